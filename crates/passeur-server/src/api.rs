//! The HTTP JSON API: routes, authentication, request parsing with errors
//! that name the field, and the handlers.

use crate::dto::{EventAck, EventBatch, EventBody, EventDefaults, EventView, OfferBody, UserBody, VenueBody};
use crate::engine::{Engine, RecoParams};
use crate::error::ApiError;
use crate::keys::{Caller, Scope, new_key};
use crate::state::{AppState, Applied};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use passeur_domain::{Interaction, InteractionKind, Timestamp};
use passeur_store::{RecordStore, Write, Written};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

type Shared = Arc<AppState>;
type ApiResult<T> = Result<T, ApiError>;

/// The router over the shared state.
pub fn router(state: Shared) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/venues", post(put_venue))
        .route("/v1/venues/{venue_id}", get(get_venue))
        .route("/v1/offers", post(put_offer))
        .route("/v1/offers/{offer_id}", get(get_offer))
        .route("/v1/offers/{offer_id}/similar", get(similar))
        .route("/v1/users", post(put_user))
        .route("/v1/users/{user_id}", get(get_user))
        .route("/v1/users/{user_id}/recommendations", get(recommendations))
        .route("/v1/users/{user_id}/playlists", get(playlists))
        .route("/v1/users/{user_id}/diversification", get(diversification))
        .route("/v1/users/{user_id}/journey", get(journey))
        .route("/v1/users/{user_id}/discover", get(discover))
        .route("/v1/territory", get(territory))
        .route("/v1/map", get(map))
        .route("/v1/catalogue/diversity", get(catalogue_diversity))
        .route("/v1/offers/{offer_id}/bookers", get(bookers))
        .route("/inspector", get(inspector_index))
        .route("/inspector/users/{user_id}", get(inspector_user))
        .route("/inspector/offers/{offer_id}", get(inspector_offer))
        .route("/inspector/territory", get(inspector_territory))
        .route("/inspector/map", get(inspector_map))
        .route("/inspector/assets/{file}", get(inspector_asset))
        .route("/v1/events", post(post_event))
        .route("/v1/events/batch", post(post_batch))
        .route("/v1/events/{event_id}", get(get_event))
        .route("/v1/admin/keys", post(create_key))
        .route("/v1/admin/keys/{key_id}", delete(revoke_key))
        .route("/v1/admin/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&state), track))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn track(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no route {} {}", request.method(), request.uri().path()),
        None,
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
        None,
    )
}

// ---------------------------------------------------------------- extraction

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Caller, ApiError> {
        let header_key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        let Some(key) = header_key.or(bearer) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_key",
                "send an API key in the Authorization header (Bearer) or X-Api-Key",
                None,
            ));
        };
        state.keys.check(&key).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_key", "the API key is unknown or revoked", None)
        })
    }
}

/// A JSON body whose errors name the field: malformed JSON is 400, a wrong type, a missing or unknown
/// field is 422 with the field's path, an oversized body is 413.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|r| {
            let status = r.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { "unreadable_body" };
            ApiError::new(status, code, r.body_text(), None)
        })?;
        parse_json(&bytes).map(Body)
    }
}

/// Parses a JSON document, naming the field of any error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    // The path stops at the struct for a missing field (serde names it in the message);
                    // it already ends with the field for a wrong or unknown one.
                    let named = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
                    let field = match (path.as_str(), named) {
                        (".", Some(n)) => n.to_owned(),
                        (".", None) => String::new(),
                        (p, Some(n)) => format!("{p}.{n}"),
                        (p, None) => p.to_owned(),
                    };
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_field",
                        if field.is_empty() { message } else { format!("{field}: {message}") },
                        (!field.is_empty()).then_some(field),
                    )
                }
                _ => {
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {message}"), None)
                }
            });
        }
    };
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {e}"), None))?;
    Ok(value)
}

/// Query parameters, each checked: unknown names and bad values are 400 naming the parameter.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: Query<Vec<(String, String)>>, allowed: &[&str]) -> ApiResult<Params> {
        for (name, _) in &query.0 {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_param(
                    name,
                    format!("unknown parameter {name:?} (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(Params(query.0))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| v.split(',').map(str::to_owned)).collect()
    }

    fn parse<T: std::str::FromStr>(&self, name: &str, what: &str) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| v.parse::<T>().map_err(|_| ApiError::bad_param(name, format!("{name}: {v:?} is not {what}"))))
            .transpose()
    }

    fn flag(&self, name: &str) -> ApiResult<bool> {
        match self.get(name) {
            None => Ok(false),
            Some("" | "true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(ApiError::bad_param(name, format!("{name}: {v:?} is not true or false"))),
        }
    }

    fn reco(&self, engine: &Engine) -> ApiResult<RecoParams> {
        let lat = self.parse::<f64>("lat", "a latitude")?;
        let lon = self.parse::<f64>("lon", "a longitude")?;
        let location = match (lat, lon) {
            (Some(lat), Some(lon)) => {
                Some(passeur_domain::GeoPoint::new(lat, lon).map_err(|r| ApiError::bad_param("lat", r))?)
            }
            (None, None) => None,
            (Some(_), None) => return Err(ApiError::bad_param("lon", "lon is required with lat")),
            (None, Some(_)) => return Err(ApiError::bad_param("lat", "lat is required with lon")),
        };
        let radius_km = self.parse::<f64>("radius_km", "a distance in km")?;
        if radius_km.is_some_and(|r| !(r.is_finite() && r > 0.0 && r <= 1000.0)) {
            return Err(ApiError::bad_param("radius_km", "radius_km must be in (0, 1000]"));
        }
        let limit = self.parse::<usize>("limit", "a whole number")?;
        let max = engine.rank.list_len;
        if limit.is_some_and(|l| l == 0 || l > max) {
            return Err(ApiError::bad_param("limit", format!("limit must be between 1 and {max}")));
        }
        let categories = self
            .all("category")
            .iter()
            .map(|c| passeur_domain::CategoryId::parse(c).map(|id| id.canonical().to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::bad_param("category", e.to_string()))?;
        Ok(RecoParams {
            location,
            radius_km,
            limit,
            categories,
            max_price_cents: self.parse::<i64>("max_price_cents", "a whole number of cents")?,
            explain: self.flag("explain")?,
            seed: None,
        })
    }
}

fn engine(state: &AppState) -> ApiResult<Arc<Engine>> {
    state.engine.load_full().ok_or_else(|| {
        let why = state.load_error().unwrap_or_else(|| "the models are loading".into());
        ApiError::unavailable(format!("not ready: {why}"))
    })
}

/// Runs CPU-heavy work off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

// ---------------------------------------------------------------- operations

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<Shared>) -> Response {
    match state.engine.load_full() {
        Some(e) => {
            let (offers, users) = e.sizes();
            Json(json!({
                "status": "ready",
                "offers": offers,
                "users": users,
                "retrieval_model": e.retrieval_version,
                "ranking_model": e.ranking.version,
                "text_model": e.text_model,
                "text_encoder": e.encoder.as_ref().map(|t| t.model_id()),
                "now": e.clock.now().to_string(),
                "loaded_in_s": e.load_seconds,
            }))
            .into_response()
        }
        None => ApiError::unavailable(format!(
            "not ready: {}",
            state.load_error().unwrap_or_else(|| "the models are loading".into())
        ))
        .into_response(),
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    if let Some(e) = state.engine.load_full() {
        let (offers, users) = e.sizes();
        state.metrics.offers.set(offers as i64);
        state.metrics.users.set(users as i64);
    }
    let w = &state.writer.stats;
    use std::sync::atomic::Ordering::Relaxed;
    state.metrics.commits.set(w.commits.load(Relaxed));
    state.metrics.impressions.set(w.impressions.load(Relaxed));
    state.metrics.impressions_dropped.set(w.impressions_dropped.load(Relaxed));
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

// ---------------------------------------------------------------- records

async fn put_venue(State(state): State<Shared>, caller: Caller, Body(body): Body<VenueBody>) -> ApiResult<Response> {
    caller.require(&[Scope::Partner])?;
    let venue = body.to_domain()?;
    let engine = engine(&state)?;
    if caller.scope == Scope::Partner {
        let own = caller.partner_id.as_deref();
        if own != Some(venue.partner_id.as_str()) {
            return Err(ApiError::forbidden(format!(
                "key {} writes for partner {:?}, not {:?}",
                caller.key_id,
                own.unwrap_or(""),
                venue.partner_id
            )));
        }
        if let Some(existing) = engine.read().venues.get(&venue.id)
            && Some(existing.partner_id.as_str()) != own
        {
            return Err(ApiError::forbidden(format!("venue {} belongs to another partner", venue.id)));
        }
    }
    let created = !engine.read().venues.contains_key(&venue.id);
    state.commit(Write::Venue(venue.clone()), Applied::Venue(venue.clone())).await?;
    Ok((status_of(created), Json(VenueBody::of(&venue))).into_response())
}

fn status_of(created: bool) -> StatusCode {
    if created { StatusCode::CREATED } else { StatusCode::OK }
}

async fn get_venue(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<VenueBody>> {
    caller.require(&[Scope::App, Scope::Partner])?;
    let engine = engine(&state)?;
    let live = engine.read();
    let venue = live.venues.get(&id).ok_or_else(|| ApiError::not_found("venue", "venue_id", &id))?;
    Ok(Json(VenueBody::of(venue)))
}

async fn put_offer(State(state): State<Shared>, caller: Caller, Body(body): Body<OfferBody>) -> ApiResult<Response> {
    caller.require(&[Scope::Partner])?;
    let engine = engine(&state)?;
    let offer = body.to_domain(engine.clock.now())?;
    let created = {
        let live = engine.read();
        if let Some(v) = &offer.venue_id
            && !live.venues.contains_key(v)
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_reference",
                format!("no venue with id {v:?}"),
                Some("venue_id".into()),
            ));
        }
        // Checked before the commit: the live state must be able to take what the store keeps.
        if let Some(image) = &offer.image_embedding
            && image.len() != live.catalogue.image_dim
        {
            return Err(ApiError::invalid(
                "image_embedding",
                match live.catalogue.image_dim {
                    0 => "the served model takes no image embedding; leave it out".to_owned(),
                    d => format!("has {} components, the served model expects {d}", image.len()),
                },
            ));
        }
        if caller.scope == Scope::Partner {
            let own = caller.partner_id.as_deref();
            let partner_of =
                |venue: &Option<String>| venue.as_ref().and_then(|v| live.venues.get(v)).map(|v| v.partner_id.as_str());
            if offer.venue_id.is_none() || partner_of(&offer.venue_id) != own {
                return Err(ApiError::forbidden(format!(
                    "key {} may write offers of its partner's venues only",
                    caller.key_id
                )));
            }
            if let Some(o) = live.table.position(&offer.id)
                && partner_of(&live.offers[o as usize].venue_id) != own
            {
                return Err(ApiError::forbidden(format!("offer {} belongs to another partner", offer.id)));
            }
        }
        live.table.position(&offer.id).is_none()
    };
    let embed_engine = Arc::clone(&engine);
    let embed_offer = offer.clone();
    let embedding = blocking(move || embed_engine.embed_offer(&embed_offer).map_err(ApiError::from)).await?;
    let text = embedding.as_ref().map(|(_, _, v)| v.clone());
    state.commit(Write::Offer(offer.clone(), embedding), Applied::Offer(offer.clone(), text)).await?;
    Ok((status_of(created), Json(OfferBody::of(&offer))).into_response())
}

#[derive(Serialize)]
struct OfferView {
    #[serde(flatten)]
    offer: OfferBody,
    category: String,
    bookings_last_28_days: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta_div: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta_div_criteria: Option<Vec<&'static str>>,
}

async fn get_offer(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<OfferView>> {
    caller.require(&[Scope::App, Scope::Partner])?;
    let params = Params::new(query, &["user_id"])?;
    let engine = engine(&state)?;
    let (delta_div, delta_div_criteria) = match params.get("user_id") {
        Some(u) => {
            let (points, criteria) = engine.delta_div(u, &id)?;
            (Some(points), Some(criteria))
        }
        None => (None, None),
    };
    let live = engine.read();
    let o = live.table.position(&id).ok_or_else(|| ApiError::not_found("offer", "offer_id", &id))?;
    Ok(Json(OfferView {
        offer: OfferBody::of(&live.offers[o as usize]),
        category: live.table.columns[o as usize].category.clone(),
        bookings_last_28_days: live.popularity.count(o, engine.clock.now().0, 28),
        delta_div,
        delta_div_criteria,
    }))
}

async fn put_user(State(state): State<Shared>, caller: Caller, Body(body): Body<UserBody>) -> ApiResult<Response> {
    caller.require(&[Scope::App])?;
    let user = body.to_domain()?;
    let engine = engine(&state)?;
    let created = !engine.read().users.contains_key(&user.id);
    state.commit(Write::User(user.clone()), Applied::User(user.clone())).await?;
    Ok((status_of(created), Json(UserBody::of(&user))).into_response())
}

#[derive(Serialize)]
struct UserView {
    #[serde(flatten)]
    user: UserBody,
    diversification_score: u32,
    bookings: u32,
    consultations: u32,
    favourites: u32,
}

async fn get_user(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<UserView>> {
    caller.require(&[Scope::App])?;
    let engine = engine(&state)?;
    let live = engine.read();
    let u = live.users.get(&id).ok_or_else(|| ApiError::not_found("user", "user_id", &id))?;
    Ok(Json(UserView {
        user: UserBody::of(&u.record),
        diversification_score: u.snapshot.profile.score(),
        bookings: u.snapshot.bookings,
        consultations: u.snapshot.consultations,
        favourites: u.snapshot.favourites,
    }))
}

// ---------------------------------------------------------------- events

async fn post_event(State(state): State<Shared>, caller: Caller, Body(body): Body<EventBody>) -> ApiResult<Response> {
    caller.require(&[Scope::App])?;
    let engine = engine(&state)?;
    let event = to_event(&state, &engine, &body)?;
    let acks = state.record_events(vec![event]).await.map_err(|e| unbatch(e, ""))?;
    let ack = acks.into_iter().next().ok_or_else(|| ApiError::internal("no outcome for the event"))?;
    Ok((status_of(ack.recorded), Json(ack)).into_response())
}

/// A single event's errors name its fields, not `events[0].`.
fn unbatch(mut e: ApiError, prefix: &str) -> ApiError {
    if let Some(f) = e.body.field.take() {
        let bare = f.strip_prefix("events[0]").map(|r| r.trim_start_matches('.').to_owned()).unwrap_or(f);
        e.body.field =
            Some(if prefix.is_empty() { bare } else { format!("{prefix}.{bare}") }).filter(|f| !f.is_empty());
    }
    e
}

fn to_event(state: &AppState, engine: &Engine, body: &EventBody) -> ApiResult<Interaction> {
    body.to_domain(EventDefaults {
        now: engine.clock.now(),
        fresh_id: state.fresh_event_id(),
        price_cents: engine.price_of(&body.offer_id),
    })
}

async fn post_batch(
    State(state): State<Shared>,
    caller: Caller,
    Body(batch): Body<EventBatch>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App])?;
    if batch.events.is_empty() {
        return Err(ApiError::invalid("events", "is empty"));
    }
    if batch.events.len() > state.config.max_batch_events {
        return Err(ApiError::invalid(
            "events",
            format!("{} events; at most {} per batch", batch.events.len(), state.config.max_batch_events),
        ));
    }
    let engine = engine(&state)?;
    let events = batch
        .events
        .iter()
        .enumerate()
        .map(|(i, b)| to_event(&state, &engine, b).map_err(|e| e.within(&format!("events[{i}]"))))
        .collect::<ApiResult<Vec<_>>>()?;
    let acks = state.record_events(events).await?;
    Ok(Json(json!({ "events": acks })))
}

async fn get_event(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<EventView>> {
    caller.require(&[Scope::App])?;
    let found = state.read_store(|s| s.interaction(&id))?;
    match found {
        Some(i) if !matches!(i.kind, InteractionKind::Impression { .. }) => Ok(Json(EventView::of(&i))),
        _ => Err(ApiError::not_found("event", "event_id", &id)),
    }
}

// ---------------------------------------------------------------- lists

async fn recommendations(
    State(state): State<Shared>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    caller.require(&[Scope::App])?;
    let params = Params::new(
        query,
        &["lat", "lon", "radius_km", "limit", "category", "max_price_cents", "explain", "playlist", "offer_id"],
    )?;
    let engine = engine(&state)?;
    let reco = params.reco(&engine)?;
    let playlist = params.get("playlist").map(str::to_owned);
    let seed = params.get("offer_id").map(str::to_owned);
    let worker = Arc::clone(&engine);
    let (body, impressions, lists, records) = blocking(move || {
        if let Some(name) = playlist {
            let (lists, impressions) = worker.playlists(&user_id, seed.as_deref(), Some(&name), &reco)?;
            let n = lists.len();
            let list = lists.into_iter().next().ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "playlist_unavailable",
                    format!("playlist {name:?} needs what this request lacks (a seed offer_id, a department)"),
                    Some("playlist".into()),
                )
            })?;
            Ok((serde_json::to_value(list).map_err(ApiError::internal)?, impressions, n, Vec::new()))
        } else {
            let (mut list, impressions) = worker.recommend(&user_id, &reco)?;
            let records = list.record.take().into_iter().collect();
            Ok((serde_json::to_value(list).map_err(ApiError::internal)?, impressions, 1, records))
        }
    })
    .await?;
    state.log_lists(lists, impressions, records);
    Ok(Json(body).into_response())
}

async fn playlists(
    State(state): State<Shared>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App])?;
    let params = Params::new(query, &["offer_id", "lat", "lon", "radius_km"])?;
    let engine = engine(&state)?;
    let reco = params.reco(&engine)?;
    let seed = params.get("offer_id").map(str::to_owned);
    let worker = Arc::clone(&engine);
    let uid = user_id.clone();
    let (lists, impressions) = blocking(move || worker.playlists(&uid, seed.as_deref(), None, &reco)).await?;
    state.log_lists(lists.len(), impressions, Vec::new());
    Ok(Json(json!({ "user_id": user_id, "playlists": lists })))
}

async fn similar(
    State(state): State<Shared>,
    caller: Caller,
    Path(offer_id): Path<String>,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App, Scope::Partner])?;
    let params = Params::new(query, &["user_id", "limit"])?;
    let limit = params.parse::<usize>("limit", "a whole number")?.unwrap_or(10);
    if limit == 0 || limit > 100 {
        return Err(ApiError::bad_param("limit", "limit must be between 1 and 100"));
    }
    let engine = engine(&state)?;
    let user = params.get("user_id").map(str::to_owned);
    let worker = Arc::clone(&engine);
    let (list, impressions) = blocking(move || worker.similar(&offer_id, user.as_deref(), limit)).await?;
    state.log_lists(1, impressions, Vec::new());
    Ok(Json(serde_json::to_value(list).map_err(ApiError::internal)?))
}

async fn diversification(
    State(state): State<Shared>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App])?;
    let engine = engine(&state)?;
    let events = state.read_store(|s| s.user_interactions(&user_id))?;
    let d = engine.diversification(&user_id, &events)?;
    Ok(Json(serde_json::to_value(d).map_err(ApiError::internal)?))
}

async fn journey(State(state): State<Shared>, caller: Caller, Path(user_id): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App])?;
    let engine = engine(&state)?;
    let view = engine.journey(&user_id)?;
    Ok(Json(serde_json::to_value(view).map_err(ApiError::internal)?))
}

async fn discover(
    State(state): State<Shared>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App])?;
    let params = Params::new(query, &["limit", "lat", "lon", "radius_km"])?;
    let engine = engine(&state)?;
    let reco = params.reco(&engine)?;
    let worker = Arc::clone(&engine);
    let (list, impressions) = blocking(move || worker.discover(&user_id, &reco)).await?;
    state.log_lists(1, impressions, Vec::new());
    Ok(Json(serde_json::to_value(list).map_err(ApiError::internal)?))
}

async fn territory(
    State(state): State<Shared>,
    caller: Caller,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    use passeur_store::TerritoryScope;
    caller.require(&[Scope::Partner])?;
    let params = Params::new(query, &["department", "partner_id"])?;
    let scope = match (params.get("department"), params.get("partner_id"), caller.scope) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad_param("department", "give department or partner_id, not both"));
        }
        (Some(_), None, Scope::Partner) => {
            return Err(ApiError::forbidden("a partner key sees its own venues: use partner_id (or nothing)"));
        }
        (Some(d), None, _) => TerritoryScope::Department(d.to_owned()),
        (None, Some(p), Scope::Partner) if caller.partner_id.as_deref() != Some(p) => {
            return Err(ApiError::forbidden(format!(
                "key {} sees partner {:?} only",
                caller.key_id, caller.partner_id
            )));
        }
        (None, Some(p), _) => TerritoryScope::Partner(p.to_owned()),
        (None, None, Scope::Partner) => TerritoryScope::Partner(caller.partner_id.clone().unwrap_or_default()),
        (None, None, _) => return Err(ApiError::bad_param("department", "give department or partner_id")),
    };
    let rules = state.config.diversification_rules().map_err(ApiError::internal)?;
    let dir = state.data_dir.clone();
    let view = blocking(move || {
        let store = passeur_store::SqliteStore::open(&dir).map_err(ApiError::from)?;
        crate::territory::territory_view(&store, &scope, &rules).map_err(|e| match e {
            crate::territory::TerritoryError::Unknown(field, id) => {
                ApiError::not_found(if field == "department" { "department" } else { "partner" }, field, &id)
            }
            crate::territory::TerritoryError::Failed(e) => ApiError::internal(*e),
        })
    })
    .await?;
    Ok(Json(serde_json::to_value(view).map_err(ApiError::internal)?))
}

async fn catalogue_diversity(
    State(state): State<Shared>,
    caller: Caller,
    query: Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    caller.require(&[])?;
    let params = Params::new(query, &["days"])?;
    let days = params.parse::<i64>("days", "a whole number of days")?.unwrap_or(28);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::bad_param("days", "days must be between 1 and 3650"));
    }
    let engine = engine(&state)?;
    let since = engine.clock.now().0 - days * 86_400;
    let dir = state.data_dir.clone();
    let rows = blocking(move || {
        let store = passeur_store::SqliteStore::open(&dir).map_err(ApiError::from)?;
        store.exposure(since).map_err(ApiError::from)
    })
    .await?;
    let mut venues: std::collections::HashMap<&str, usize> = Default::default();
    let mut partners: std::collections::HashMap<&str, usize> = Default::default();
    let mut partner_of_venue = Vec::new();
    let mut venue_of_offer = Vec::with_capacity(rows.len());
    let mut exposure = Vec::with_capacity(rows.len());
    for (_, venue, partner, n) in &rows {
        let next = venues.len();
        let v = *venues.entry(venue.as_str()).or_insert_with(|| {
            let np = partners.len();
            partner_of_venue.push(*partners.entry(partner.as_str()).or_insert(np));
            next
        });
        venue_of_offer.push(v);
        exposure.push(*n);
    }
    let metrics = passeur_insight::CatalogueMetrics::of(&exposure, &venue_of_offer, &partner_of_venue, partners.len())
        .map_err(ApiError::internal)?;
    let impressions: u64 = exposure.iter().sum();
    Ok(Json(json!({ "days": days, "impressions": impressions, "metrics": metrics })))
}

async fn map(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App, Scope::Partner])?;
    let engine = engine(&state)?;
    let view = blocking(move || Ok(engine.map())).await?;
    Ok(Json(serde_json::to_value(view).map_err(ApiError::internal)?))
}

async fn bookers(State(state): State<Shared>, caller: Caller, Path(offer_id): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::App, Scope::Partner])?;
    let engine = engine(&state)?;
    if engine.read().table.position(&offer_id).is_none() {
        return Err(ApiError::not_found("offer", "offer_id", &offer_id));
    }
    let rows = state.read_store(|s| s.offer_bookers(&offer_id))?;
    let mut by_age: std::collections::BTreeMap<i32, u64> = Default::default();
    let mut by_department: std::collections::BTreeMap<String, u64> = Default::default();
    for (birth, department, at) in &rows {
        let month = passeur_domain::Timestamp(*at).to_string();
        if let Some(age) = passeur_insight::territory::age_in_month(birth, month.get(0..7).unwrap_or_default()) {
            *by_age.entry(age).or_default() += 1;
        }
        *by_department.entry(department.clone()).or_default() += 1;
    }
    let mut departments: Vec<(String, u64)> = by_department.into_iter().collect();
    departments.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Json(json!({
        "offer_id": offer_id,
        "bookings": rows.len(),
        "by_age": by_age.into_iter().map(|(age, n)| json!({ "age": age, "bookings": n })).collect::<Vec<_>>(),
        "by_department": departments.into_iter().map(|(d, n)| json!({ "department": d, "bookings": n })).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------- the inspector (static pages over the API)

const INSPECTOR_PAGE: &str = include_str!("../inspector/page.html");

fn inspector_page(page: &str) -> Response {
    let html = INSPECTOR_PAGE.replace("{{PAGE}}", page);
    ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn inspector_index() -> Response {
    inspector_page("index")
}

async fn inspector_user(Path(_user_id): Path<String>) -> Response {
    inspector_page("user")
}

async fn inspector_offer(Path(_offer_id): Path<String>) -> Response {
    inspector_page("offer")
}

async fn inspector_territory() -> Response {
    inspector_page("territory")
}

async fn inspector_map() -> Response {
    inspector_page("map")
}

async fn inspector_asset(Path(file): Path<String>) -> ApiResult<Response> {
    let (body, kind) = match file.as_str() {
        "inspector.js" => (include_str!("../inspector/inspector.js"), "text/javascript; charset=utf-8"),
        "inspector.css" => (include_str!("../inspector/inspector.css"), "text/css; charset=utf-8"),
        other => return Err(ApiError::not_found("asset", "file", other)),
    };
    Ok(([(axum::http::header::CONTENT_TYPE, kind)], body).into_response())
}

// ---------------------------------------------------------------- admin

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    scope: String,
    #[serde(default)]
    partner_id: Option<String>,
    #[serde(default)]
    label: String,
}

async fn create_key(State(state): State<Shared>, caller: Caller, Body(body): Body<KeyRequest>) -> ApiResult<Response> {
    caller.require(&[Scope::Admin])?;
    let scope = Scope::parse(&body.scope)
        .ok_or_else(|| ApiError::invalid("scope", format!("unknown scope {:?} (app, partner or admin)", body.scope)))?;
    if (scope == Scope::Partner) != body.partner_id.is_some() {
        return Err(ApiError::invalid("partner_id", "is required for partner keys and only for them"));
    }
    let (key, record) = new_key(scope, body.partner_id.clone(), &body.label, Timestamp::now().0);
    state.with_keys(|store| store.put_api_key(&record))?;
    tracing::info!(key_id = %record.id, scope = scope.name(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": record.id, "key": key, "scope": scope.name(), "partner_id": body.partner_id })),
    )
        .into_response())
}

async fn revoke_key(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::Admin])?;
    let found = state.with_keys(|store| store.revoke_api_key(&id))?;
    if !found {
        return Err(ApiError::not_found("API key", "key_id", &id));
    }
    tracing::info!(key_id = %id, "API key revoked");
    Ok(Json(json!({ "id": id, "revoked": true })))
}

async fn reload(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(&[Scope::Admin])?;
    let (retrieval, ranking, seconds) = state.reload().await?;
    Ok(Json(json!({ "retrieval_model": retrieval, "ranking_model": ranking, "loaded_in_s": seconds })))
}

/// Bookings that the cancellations among `events` refer to, read from the store.
pub(crate) fn cancelled_bookings(
    store: &passeur_store::SqliteStore,
    events: &[Interaction],
) -> passeur_store::Result<FxHashMap<String, Interaction>> {
    let mut out = FxHashMap::default();
    for e in events {
        if let InteractionKind::Cancellation { booking_id } = &e.kind
            && let Some(b) = store.interaction(booking_id)?
        {
            out.insert(booking_id.clone(), b);
        }
    }
    Ok(out)
}

/// What an events write answers, from what the store did.
pub(crate) fn acks(events: &[Interaction], written: Written) -> ApiResult<Vec<EventAck>> {
    let Written::Events(outcomes) = written else { return Err(ApiError::internal("the store answered another write")) };
    Ok(events
        .iter()
        .zip(outcomes)
        .map(|(e, o)| match o {
            passeur_store::EventOutcome::Recorded { credit_cents } => {
                EventAck { id: e.id.clone(), recorded: true, credit_cents }
            }
            passeur_store::EventOutcome::AlreadyRecorded => {
                EventAck { id: e.id.clone(), recorded: false, credit_cents: -1 }
            }
        })
        .collect())
}
