-- The deck's diversification score (rules/deck-2023.toml, with the choices of src/rules.rs)
-- written as the SQL a data team would run in DuckDB over the same files as
-- `passeur diversity score --from DIR`. `passeur bench diversity --against-duckdb`
-- substitutes the placeholders ({dir}, {taxonomy}, {out}, {on}) and times it.
--
-- The reference table is pass Culture's public subcategory taxonomy (category, platform, format).
CREATE TEMP TABLE subcategories AS
SELECT id AS subcategory, category_id AS category, online_offline_platform = 'ONLINE' AS online,
       diversity_format AS format
FROM read_csv('{taxonomy}', delim = '\t', header = true, all_varchar = true);

CREATE TEMP TABLE scored AS
WITH events AS (
    SELECT id, kind, user_id, offer_id, "at", booking_id
    FROM read_parquet('{dir}/interactions.parquet')
    WHERE kind IN ('booking', 'cancellation')
),
cancelled AS (SELECT DISTINCT booking_id FROM events WHERE kind = 'cancellation'),
bookings AS (
    SELECT e.id, e.user_id, e.offer_id, e."at", c.booking_id IS NOT NULL AS cancelled,
           s.category, o.subcategory, s.format,
           -- An online offer, or one whose venue has no location, is at the digital pseudo-venue.
           CASE WHEN s.online OR v.latitude IS NULL THEN NULL ELSE o.venue_id END AS venue,
           CASE WHEN s.online OR v.latitude IS NULL THEN 'DIGITAL' ELSE v.venue_type END AS venue_type,
           CASE WHEN s.category = 'LIVRE' THEN o.book_macro_section END AS book_macro_section,
           CASE WHEN s.category IN ('MUSIQUE_LIVE', 'MUSIQUE_ENREGISTREE') THEN o.music_genre END AS music_genre,
           o.music_genre AS any_music_genre,
           CASE WHEN s.category = 'SPECTACLE' THEN o.show_type END AS show_type
    FROM events e
    JOIN read_parquet('{dir}/offers.parquet') o ON o.id = e.offer_id
    JOIN subcategories s ON s.subcategory = o.subcategory
    LEFT JOIN read_parquet('{dir}/venues.parquet') v ON v.id = o.venue_id
    LEFT JOIN cancelled c ON c.booking_id = e.id
    WHERE e.kind = 'booking'
),
ranked AS (
    SELECT *,
        row_number() OVER (PARTITION BY user_id ORDER BY "at", id) AS n,
        row_number() OVER (PARTITION BY user_id, category ORDER BY "at", id) AS n_category,
        row_number() OVER (PARTITION BY user_id, subcategory ORDER BY "at", id) AS n_subcategory,
        row_number() OVER (PARTITION BY user_id, format ORDER BY "at", id) AS n_format,
        row_number() OVER (PARTITION BY user_id, coalesce(venue, '') ORDER BY "at", id) AS n_venue,
        row_number() OVER (PARTITION BY user_id, book_macro_section ORDER BY "at", id) AS n_book,
        row_number() OVER (PARTITION BY user_id, any_music_genre ORDER BY "at", id) AS n_music,
        row_number() OVER (PARTITION BY user_id, show_type ORDER BY "at", id) AS n_show
    FROM bookings WHERE NOT cancelled
),
criteria AS (
    SELECT id, n = 1 AS first, n > 1 AND n_category = 1 AS category, n > 1 AND n_subcategory = 1 AS subcategory,
           n > 1 AND n_venue = 1 AS venue, n > 1 AND n_format = 1 AS format,
           n > 1 AND book_macro_section IS NOT NULL AND n_book = 1 AS book,
           n > 1 AND music_genre IS NOT NULL AND n_music = 1 AS music,
           n > 1 AND show_type IS NOT NULL AND n_show = 1 AS show,
           CASE WHEN venue_type IN ('BOOKSTORE', 'CONCERT_HALL', 'PERFORMING_ARTS', 'RECORD_STORE') THEN 1 ELSE 2 END
               AS venue_points
    FROM ranked
)
SELECT b.id AS booking_id, b.user_id, b.offer_id, b."at", b.cancelled,
       coalesce(CASE WHEN c.first THEN 1 ELSE c.category::INT + c.subcategory::INT + c.format::INT
                + CASE WHEN c.venue THEN c.venue_points ELSE 0 END + c.book::INT + c.music::INT + c.show::INT END, 0)
           AS points,
       coalesce(concat_ws('+',
           CASE WHEN c.first THEN 'first_booking' END, CASE WHEN c.category THEN 'category' END,
           CASE WHEN c.subcategory THEN 'subcategory' END, CASE WHEN c.venue THEN 'venue' END,
           CASE WHEN c.format THEN 'format' END, CASE WHEN c.book THEN 'book_macro_section' END,
           CASE WHEN c.music THEN 'music_genre' END, CASE WHEN c.show THEN 'show_type' END), '') AS criteria
FROM bookings b LEFT JOIN criteria c ON c.id = b.id;

COPY (SELECT * FROM scored ORDER BY user_id, "at", booking_id) TO '{out}/booking_points.parquet' (FORMAT parquet);

COPY (
    SELECT u.id AS user_id, coalesce(sum(s.points), 0)::BIGINT AS score,
           coalesce(count(s.booking_id) FILTER (WHERE NOT s.cancelled), 0)::BIGINT AS bookings,
           year(DATE '{on}') - year(u.birth_date)
               - CASE WHEN month(DATE '{on}') * 100 + day(DATE '{on}') < month(u.birth_date) * 100 + day(u.birth_date)
                      THEN 1 ELSE 0 END AS age,
           u.department
    FROM read_parquet('{dir}/users.parquet') u LEFT JOIN scored s ON s.user_id = u.id
    GROUP BY u.id, u.birth_date, u.department
) TO '{out}/user_scores.parquet' (FORMAT parquet);
