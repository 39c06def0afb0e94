//! The OpenAPI 3.1 document the server serves at `/openapi.json`, built from
//! one table of routes ([`ROUTES`]); a test calls every documented route on a
//! running server and checks that each exists and answers the documented shape.

use serde_json::{Map, Value, json};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// In the path.
    Path,
    /// In the query string.
    Query,
}

/// One parameter: name, place, JSON type, required, description.
pub type Param = (&'static str, In, &'static str, bool, &'static str);

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// Who may call it (`public` needs no key).
    pub scopes: &'static [&'static str],
    /// One line.
    pub summary: &'static str,
    /// Parameters.
    pub params: &'static [Param],
    /// Request body schema name.
    pub body: Option<&'static str>,
    /// Success status and response schema name.
    pub response: (u16, &'static str),
}

const LIST_PARAMS: &[Param] = &[
    ("user_id", In::Path, "string", true, "The user."),
    ("lat", In::Query, "number", false, "Where the user is now (defaults to home)."),
    ("lon", In::Query, "number", false, "Longitude, with lat."),
    ("radius_km", In::Query, "number", false, "Radius around the user (default from the configuration)."),
    ("limit", In::Query, "integer", false, "List length (default 20, at most ranking.list_len)."),
    ("category", In::Query, "string", false, "Only these categories (repeat or separate by commas)."),
    ("max_price_cents", In::Query, "integer", false, "At most this price (always within the credit)."),
    (
        "explain",
        In::Query,
        "boolean",
        false,
        "Add each offer's explanation: sources, p(click), p(booking), Δdiv criteria.",
    ),
    ("playlist", In::Query, "string", false, "Serve this playlist instead of the ranked list."),
    ("offer_id", In::Query, "string", false, "Seed offer of a similar-offers playlist."),
];

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/health",
        scopes: &["public"],
        summary: "Liveness.",
        params: &[],
        body: None,
        response: (200, "Status"),
    },
    Route {
        method: "get",
        path: "/ready",
        scopes: &["public"],
        summary: "Readiness: models loaded, sizes and versions (503 while loading).",
        params: &[],
        body: None,
        response: (200, "Ready"),
    },
    Route {
        method: "get",
        path: "/metrics",
        scopes: &["public"],
        summary: "Prometheus metrics: requests and latency per route, model versions, live sizes, writer counters.",
        params: &[],
        body: None,
        response: (200, "Text"),
    },
    Route {
        method: "get",
        path: "/openapi.json",
        scopes: &["public"],
        summary: "This document.",
        params: &[],
        body: None,
        response: (200, "Object"),
    },
    Route {
        method: "post",
        path: "/v1/venues",
        scopes: &["partner", "admin"],
        summary: "Create or replace a venue (partners: their own).",
        params: &[],
        body: Some("Venue"),
        response: (201, "Venue"),
    },
    Route {
        method: "get",
        path: "/v1/venues/{venue_id}",
        scopes: &["app", "partner", "admin"],
        summary: "A venue.",
        params: &[("venue_id", In::Path, "string", true, "The venue.")],
        body: None,
        response: (200, "Venue"),
    },
    Route {
        method: "post",
        path: "/v1/offers",
        scopes: &["partner", "admin"],
        summary: "Create or replace an offer (partners: at their own venues); embedded and searchable at once.",
        params: &[],
        body: Some("Offer"),
        response: (201, "Offer"),
    },
    Route {
        method: "get",
        path: "/v1/offers/{offer_id}",
        scopes: &["app", "partner", "admin"],
        summary: "An offer; with user_id, the Δdiv booking it would bring that user.",
        params: &[
            ("offer_id", In::Path, "string", true, "The offer."),
            ("user_id", In::Query, "string", false, "A user, for Δdiv."),
        ],
        body: None,
        response: (200, "OfferView"),
    },
    Route {
        method: "get",
        path: "/v1/offers/{offer_id}/similar",
        scopes: &["app", "partner", "admin"],
        summary: "Offers similar to an offer (item vectors), under a user's filters when given.",
        params: &[
            ("offer_id", In::Path, "string", true, "The offer."),
            ("user_id", In::Query, "string", false, "Apply this user's filters."),
            ("limit", In::Query, "integer", false, "List length (default 10, at most 100)."),
        ],
        body: None,
        response: (200, "List"),
    },
    Route {
        method: "post",
        path: "/v1/users",
        scopes: &["app", "admin"],
        summary: "Create or replace a user.",
        params: &[],
        body: Some("User"),
        response: (201, "User"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}",
        scopes: &["app", "admin"],
        summary: "A user now: credit, diversification score, activity counts.",
        params: &[("user_id", In::Path, "string", true, "The user.")],
        body: None,
        response: (200, "UserView"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}/recommendations",
        scopes: &["app", "admin"],
        summary: "The user's ranked list: p(click) + p(booking) × (1 + λ·Δdiv), mixed across categories; logged as impressions.",
        params: LIST_PARAMS,
        body: None,
        response: (200, "List"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}/playlists",
        scopes: &["app", "admin"],
        summary: "The user's thematic playlists (configured), logged as impressions.",
        params: &[
            ("user_id", In::Path, "string", true, "The user."),
            ("offer_id", In::Query, "string", false, "Seed of the similar-offers playlist."),
            ("lat", In::Query, "number", false, "Where the user is now."),
            ("lon", In::Query, "number", false, "Longitude, with lat."),
            ("radius_km", In::Query, "number", false, "Radius."),
        ],
        body: None,
        response: (200, "Playlists"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}/diversification",
        scopes: &["app", "admin"],
        summary: "The user's diversification score, with the points each booking earned.",
        params: &[("user_id", In::Path, "string", true, "The user.")],
        body: None,
        response: (200, "Diversification"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}/journey",
        scopes: &["app", "admin"],
        summary: "The user's journey: diversity metrics (score, categories entered, entropy, evenness, follow-through), bookings per category, untried categories.",
        params: &[("user_id", In::Path, "string", true, "The user.")],
        body: None,
        response: (200, "Journey"),
    },
    Route {
        method: "get",
        path: "/v1/users/{user_id}/discover",
        scopes: &["app", "admin"],
        summary: "A few entries into categories the user has not tried: the best gateway offer per category among the user's candidates, explained; logged as impressions.",
        params: &[
            ("user_id", In::Path, "string", true, "The user."),
            ("limit", In::Query, "integer", false, "Entries (default 5)."),
            ("lat", In::Query, "number", false, "Where the user is now."),
            ("lon", In::Query, "number", false, "Longitude, with lat."),
            ("radius_km", In::Query, "number", false, "Radius."),
        ],
        body: None,
        response: (200, "List"),
    },
    Route {
        method: "get",
        path: "/v1/territory",
        scopes: &["partner", "admin"],
        summary: "The territory's view: consultations, bookings and cancellations by category, age and month, the diversification score distribution; for a partner, each offer's impressions, consultations and bookings. A partner key sees its own venues.",
        params: &[
            ("department", In::Query, "string", false, "A department code (admin)."),
            ("partner_id", In::Query, "string", false, "A partner (a partner key: its own, the default)."),
        ],
        body: None,
        response: (200, "Territory"),
    },
    Route {
        method: "get",
        path: "/v1/catalogue/diversity",
        scopes: &["admin"],
        summary: "How evenly served lists expose the catalogue over the last days: coverage, Gini of impressions across offers, venues and partners.",
        params: &[("days", In::Query, "integer", false, "Window in days (default 28).")],
        body: None,
        response: (200, "CatalogueDiversity"),
    },
    Route {
        method: "get",
        path: "/v1/map",
        scopes: &["app", "partner", "admin"],
        summary: "The item space in two dimensions: t-SNE of a seeded sample of offers' item vectors (map_points), with their categories.",
        params: &[],
        body: None,
        response: (200, "Map"),
    },
    Route {
        method: "get",
        path: "/v1/offers/{offer_id}/bookers",
        scopes: &["app", "partner", "admin"],
        summary: "Who books an offer: its bookings by the bookers' age then and by department.",
        params: &[("offer_id", In::Path, "string", true, "The offer.")],
        body: None,
        response: (200, "Bookers"),
    },
    Route {
        method: "post",
        path: "/v1/events",
        scopes: &["app", "admin"],
        summary: "One event (consultation, favourite, booking, cancellation); durable when answered; the next list reflects it.",
        params: &[],
        body: Some("Event"),
        response: (201, "EventAck"),
    },
    Route {
        method: "post",
        path: "/v1/events/batch",
        scopes: &["app", "admin"],
        summary: "Events in order, all or none; an error names events[i].field.",
        params: &[],
        body: Some("EventBatch"),
        response: (200, "EventAcks"),
    },
    Route {
        method: "get",
        path: "/v1/events/{event_id}",
        scopes: &["app", "admin"],
        summary: "A recorded event.",
        params: &[("event_id", In::Path, "string", true, "The event.")],
        body: None,
        response: (200, "EventView"),
    },
    Route {
        method: "post",
        path: "/v1/admin/keys",
        scopes: &["admin"],
        summary: "Create an API key (shown once; stored hashed).",
        params: &[],
        body: Some("KeyRequest"),
        response: (201, "Key"),
    },
    Route {
        method: "delete",
        path: "/v1/admin/keys/{key_id}",
        scopes: &["admin"],
        summary: "Revoke an API key.",
        params: &[("key_id", In::Path, "string", true, "The key's public id.")],
        body: None,
        response: (200, "Object"),
    },
    Route {
        method: "post",
        path: "/v1/admin/reload",
        scopes: &["admin"],
        summary: "Load retrained models and the state from the data directory while serving; swapped in at once.",
        params: &[],
        body: None,
        response: (200, "Reloaded"),
    },
];

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// The component schemas.
pub fn schemas() -> Value {
    let item = object(
        &["position", "offer_id", "item_id", "title", "category", "subcategory", "price_cents", "delta_div", "score"],
        json!({
            "position": { "type": "integer" }, "offer_id": string(), "item_id": string(), "title": string(),
            "category": string(), "subcategory": string(), "price_cents": { "type": "integer" },
            "venue_id": nullable("string"), "venue_name": nullable("string"), "distance_km": nullable("number"),
            "delta_div": { "type": "integer", "description": "Diversification points booking it would earn now." },
            "score": { "type": "number" },
            "gateway": { "type": "object", "description": "Discover lists: why it is a good entry into a category new to the user.",
                "properties": { "score": { "type": "number" }, "entry_rate": { "type": "number" },
                    "follow_through": { "type": "number" }, "lift": { "type": "number" }, "exposures": { "type": "integer" },
                    "entries": { "type": "integer" }, "followed": { "type": "integer" }, "text": string() } },
            "explanation": { "type": "object", "properties": {
                "sources": { "type": "array" }, "p_click": { "type": "number" }, "p_booking": { "type": "number" },
                "delta_div_criteria": { "type": "array", "items": string() }, "retrieval_score": { "type": "number" },
                "retrieval_rank": { "type": "integer" }, "lambda": { "type": "number" }, "objective": string(), "text": string() } }
        }),
    );
    let list = object(
        &["call_id", "at", "list", "title", "policy", "model_version", "items"],
        json!({
            "call_id": string(), "user_id": nullable("string"), "at": string(), "list": string(), "title": string(),
            "policy": string(), "model_version": string(), "candidates": { "type": "integer" },
            "items": { "type": "array", "items": { "$ref": "#/components/schemas/ListItem" } },
            "seed": { "type": "integer", "description": "Exploring lists: the seed of the draw." },
            "diversity": { "type": "object", "description": "The list's diversity.", "properties": {
                "len": { "type": "integer" }, "intra_list_diversity": { "type": "number" },
                "distinct_subcategories": { "type": "integer" }, "distinct_categories": { "type": "integer" },
                "calibration_kl": nullable("number") } }
        }),
    );
    let venue = object(
        &["id", "name", "venue_type", "city", "department", "partner_id"],
        json!({ "id": string(), "name": string(), "venue_type": string(), "latitude": nullable("number"),
                "longitude": nullable("number"), "city": string(), "department": string(), "partner_id": string() }),
    );
    let offer_props = json!({
        "id": string(), "item_id": string(), "title": string(), "description": string(), "artist": nullable("string"),
        "subcategory": string(), "book_macro_section": nullable("string"), "music_genre": nullable("string"),
        "show_type": nullable("string"), "movie_genre": nullable("string"), "price_cents": { "type": "integer" },
        "duo": { "type": "boolean" }, "stock": nullable("integer"), "bookable_from": nullable("string"),
        "bookable_until": nullable("string"), "event_start": nullable("string"), "created_at": nullable("string"),
        "venue_id": nullable("string"), "image_embedding": { "type": ["array", "null"], "items": { "type": "number" } }
    });
    let offer = object(&["id", "item_id", "title", "subcategory", "price_cents"], offer_props.clone());
    let mut view_props = offer_props.as_object().cloned().unwrap_or_default();
    view_props.insert("category".into(), string());
    view_props.insert("bookings_last_28_days".into(), json!({ "type": "integer" }));
    view_props.insert("delta_div".into(), json!({ "type": "integer" }));
    view_props.insert("delta_div_criteria".into(), json!({ "type": "array", "items": string() }));
    let user_props = json!({ "id": string(), "birth_date": string(), "department": string(),
        "home_latitude": nullable("number"), "home_longitude": nullable("number"), "credit_cents": { "type": "integer" } });
    let user = object(&["id", "birth_date", "department", "credit_cents"], user_props.clone());
    let mut user_view = user_props.as_object().cloned().unwrap_or_default();
    for k in ["diversification_score", "bookings", "consultations", "favourites"] {
        user_view.insert(k.into(), json!({ "type": "integer" }));
    }
    let event = object(
        &["kind", "user_id", "offer_id"],
        json!({ "id": string(), "kind": { "enum": ["consultation", "favourite", "booking", "cancellation"] },
                "user_id": string(), "offer_id": string(), "at": string(), "amount_cents": { "type": "integer" },
                "quantity": { "type": "integer" }, "booking_id": string() }),
    );
    let ack = object(
        &["id", "recorded", "credit_cents"],
        json!({ "id": string(), "recorded": { "type": "boolean" }, "credit_cents": { "type": "integer" } }),
    );
    json!({
        "Status": object(&["status"], json!({ "status": string() })),
        "Ready": object(&["status", "offers", "users", "retrieval_model", "ranking_model"], json!({
            "status": string(), "offers": { "type": "integer" }, "users": { "type": "integer" },
            "retrieval_model": string(), "ranking_model": string(), "now": string(), "loaded_in_s": { "type": "number" } })),
        "Text": { "type": "string" },
        "Object": { "type": "object" },
        "Venue": venue,
        "Offer": offer,
        "OfferView": object(&["id", "title", "category", "bookings_last_28_days"], Value::Object(view_props)),
        "User": user,
        "UserView": object(&["id", "credit_cents", "diversification_score"], Value::Object(user_view)),
        "Event": event,
        "EventBatch": object(&["events"], json!({ "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } } })),
        "EventAck": ack,
        "EventAcks": object(&["events"], json!({ "events": { "type": "array", "items": { "$ref": "#/components/schemas/EventAck" } } })),
        "EventView": object(&["id", "kind", "user_id", "offer_id", "at"], json!({ "id": string(), "kind": string(),
            "user_id": string(), "offer_id": string(), "at": string(), "amount_cents": { "type": "integer" },
            "quantity": { "type": "integer" }, "booking_id": string() })),
        "ListItem": item,
        "List": list,
        "Playlists": object(&["user_id", "playlists"], json!({ "user_id": string(),
            "playlists": { "type": "array", "items": { "$ref": "#/components/schemas/List" } } })),
        "Diversification": object(&["user_id", "score", "categories", "bookings"], json!({
            "user_id": string(), "score": { "type": "integer" }, "categories": { "type": "array", "items": string() },
            "bookings": { "type": "array", "items": object(&["booking_id", "offer_id", "points", "criteria", "cancelled"], json!({
                "booking_id": string(), "offer_id": string(), "title": string(), "category": string(),
                "subcategory": string(), "at": string(), "points": { "type": "integer" },
                "criteria": { "type": "array", "items": string() }, "cancelled": { "type": "boolean" } })) } })),
        "Journey": object(&["user_id", "metrics", "categories", "untried"], json!({
            "user_id": string(),
            "metrics": object(&["bookings", "score", "categories_entered", "entropy_bits", "evenness", "newly_entered", "followed_through"], json!({
                "bookings": { "type": "integer" }, "score": { "type": "integer" }, "categories_entered": { "type": "integer" },
                "entropy_bits": { "type": "number" }, "evenness": { "type": "number" }, "newly_entered": { "type": "integer" },
                "followed_through": { "type": "integer" }, "follow_through": nullable("number") })),
            "categories": { "type": "array", "items": object(&["category", "count"], json!({ "category": string(), "count": { "type": "integer" } })) },
            "untried": { "type": "array", "items": string() } })),
        "Territory": object(&["scope", "id", "users", "activity", "scores"], json!({
            "scope": { "enum": ["department", "partner"] }, "id": string(), "users": { "type": "integer" },
            "activity": object(&["total", "by_category", "by_age", "by_month"], json!({
                "total": { "type": "object" }, "by_category": { "type": "array" }, "by_age": { "type": "array" },
                "by_month": { "type": "array" } })),
            "scores": object(&["users", "mean", "median", "histogram"], json!({ "users": { "type": "integer" },
                "mean": { "type": "number" }, "median": { "type": "integer" }, "histogram": { "type": "array" } })),
            "offers": { "type": "array" } })),
        "CatalogueDiversity": object(&["days", "impressions", "metrics"], json!({ "days": { "type": "integer" },
            "impressions": { "type": "integer" },
            "metrics": object(&["offers", "exposed_offers", "coverage", "gini_offers", "gini_venues", "gini_partners"], json!({
                "offers": { "type": "integer" }, "exposed_offers": { "type": "integer" }, "coverage": { "type": "number" },
                "gini_offers": { "type": "number" }, "gini_venues": { "type": "number" }, "gini_partners": { "type": "number" } })) })),
        "Map": object(&["categories", "points"], json!({ "categories": { "type": "array", "items": string() },
            "points": { "type": "array", "items": object(&["offer_id", "category", "x", "y"], json!({
                "offer_id": string(), "title": string(), "category": string(), "x": { "type": "number" }, "y": { "type": "number" } })) } })),
        "Bookers": object(&["offer_id", "bookings", "by_age", "by_department"], json!({ "offer_id": string(),
            "bookings": { "type": "integer" }, "by_age": { "type": "array" }, "by_department": { "type": "array" } })),
        "KeyRequest": object(&["scope"], json!({ "scope": { "enum": ["app", "partner", "admin"] },
            "partner_id": string(), "label": string() })),
        "Key": object(&["id", "key", "scope"], json!({ "id": string(), "key": string(), "scope": string(), "partner_id": nullable("string") })),
        "Reloaded": object(&["retrieval_model", "ranking_model"], json!({ "retrieval_model": string(),
            "ranking_model": string(), "loaded_in_s": { "type": "number" } })),
        "Error": object(&["error"], json!({ "error": object(&["code", "message"], json!({
            "code": string(), "message": string(), "field": string() })) })),
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        let params: Vec<Value> = r
            .params
            .iter()
            .map(|(name, place, ty, required, description)| {
                json!({ "name": name, "in": if *place == In::Path { "path" } else { "query" },
                        "required": required, "description": description, "schema": { "type": ty } })
            })
            .collect();
        let error = json!({ "description": "An error naming the field or id.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        let mut responses = Map::new();
        responses.insert(
            r.response.0.to_string(),
            json!({ "description": "Success.", "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{}", r.response.1) } } } }),
        );
        responses.insert("4XX".into(), error);
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}_{}", r.method, r.path.trim_start_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
            "x-scopes": r.scopes,
        });
        if !r.scopes.contains(&"public") {
            op["security"] = json!([{ "apiKey": [] }, { "bearer": [] }]);
        }
        if let Some(body) = r.body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{body}") } } } });
        }
        entry[r.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "passeur",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Recommendations of cultural offers that value the diversification of young people's practices: p(click) + p(booking) × (1 + λ·Δdiv).",
            "license": { "name": "Apache-2.0" }
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-Api-Key" },
                "bearer": { "type": "http", "scheme": "bearer" }
            }
        }
    })
}
