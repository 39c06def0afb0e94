//! Real French cities (name, department, latitude, longitude, population in
//! thousands, rounded; INSEE figures and public coordinates).

/// A city where venues and users live.
#[derive(Debug, Clone, Copy)]
pub struct City {
    /// Name.
    pub name: &'static str,
    /// Department code.
    pub department: &'static str,
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Population, thousands.
    pub population_k: u32,
}

const fn c(name: &'static str, department: &'static str, lat: f64, lon: f64, population_k: u32) -> City {
    City { name, department, lat, lon, population_k }
}

/// The cities of the synthetic world.
pub const CITIES: &[City] = &[
    c("Paris", "75", 48.8566, 2.3522, 2103),
    c("Marseille", "13", 43.2965, 5.3698, 873),
    c("Lyon", "69", 45.7640, 4.8357, 522),
    c("Toulouse", "31", 43.6047, 1.4442, 504),
    c("Nice", "06", 43.7102, 7.2620, 342),
    c("Nantes", "44", 47.2184, -1.5536, 320),
    c("Montpellier", "34", 43.6108, 3.8767, 302),
    c("Strasbourg", "67", 48.5734, 7.7521, 291),
    c("Bordeaux", "33", 44.8378, -0.5792, 261),
    c("Lille", "59", 50.6292, 3.0573, 236),
    c("Rennes", "35", 48.1173, -1.6778, 222),
    c("Toulon", "83", 43.1242, 5.9280, 180),
    c("Reims", "51", 49.2583, 4.0317, 180),
    c("Saint-Étienne", "42", 45.4397, 4.3872, 173),
    c("Le Havre", "76", 49.4944, 0.1079, 166),
    c("Dijon", "21", 47.3220, 5.0415, 160),
    c("Grenoble", "38", 45.1885, 5.7245, 157),
    c("Angers", "49", 47.4784, -0.5632, 157),
    c("Villeurbanne", "69", 45.7719, 4.8902, 156),
    c("Saint-Denis", "93", 48.9362, 2.3574, 113),
    c("Nîmes", "30", 43.8367, 4.3601, 149),
    c("Clermont-Ferrand", "63", 45.7772, 3.0870, 147),
    c("Aix-en-Provence", "13", 43.5297, 5.4474, 147),
    c("Le Mans", "72", 48.0061, 0.1996, 145),
    c("Brest", "29", 48.3904, -4.4861, 139),
    c("Tours", "37", 47.3941, 0.6848, 136),
    c("Amiens", "80", 49.8941, 2.2958, 133),
    c("Limoges", "87", 45.8336, 1.2611, 130),
    c("Annecy", "74", 45.8992, 6.1294, 130),
    c("Perpignan", "66", 42.6887, 2.8948, 119),
    c("Metz", "57", 49.1193, 6.1757, 120),
    c("Besançon", "25", 47.2378, 6.0241, 119),
    c("Orléans", "45", 47.9030, 1.9093, 116),
    c("Rouen", "76", 49.4432, 1.0999, 114),
    c("Mulhouse", "68", 47.7508, 7.3359, 108),
    c("Caen", "14", 49.1829, -0.3707, 106),
    c("Nancy", "54", 48.6921, 6.1844, 104),
    c("Argenteuil", "95", 48.9472, 2.2467, 110),
    c("Montreuil", "93", 48.8638, 2.4485, 111),
    c("Roubaix", "59", 50.6942, 3.1746, 98),
    c("Avignon", "84", 43.9493, 4.8055, 91),
    c("Poitiers", "86", 46.5802, 0.3404, 89),
    c("Pau", "64", 43.2951, -0.3708, 76),
    c("La Rochelle", "17", 46.1603, -1.1511, 77),
    c("Ajaccio", "2A", 41.9192, 8.7386, 71),
    c("Bastia", "2B", 42.6977, 9.4508, 48),
    c("Saint-Denis (La Réunion)", "974", -20.8823, 55.4504, 153),
    c("Fort-de-France", "972", 14.6161, -61.0588, 76),
    c("Cayenne", "973", 4.9224, -52.3135, 63),
    c("Quimper", "29", 47.9960, -4.1024, 63),
    c("Troyes", "10", 48.2973, 4.0744, 62),
    c("Chambéry", "73", 45.5646, 5.9178, 60),
    c("Valence", "26", 44.9334, 4.8924, 64),
    c("Niort", "79", 46.3237, -0.4588, 59),
    c("Lorient", "56", 47.7483, -3.3700, 57),
    c("Bayonne", "64", 43.4929, -1.4748, 52),
    c("Arras", "62", 50.2910, 2.7775, 41),
    c("Albi", "81", 43.9289, 2.1464, 49),
    c("Auxerre", "89", 47.7982, 3.5673, 34),
    c("Guéret", "23", 46.1716, 1.8717, 13),
];
