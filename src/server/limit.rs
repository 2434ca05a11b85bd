//! `web.max_requests` (`--web.max-requests`): scrapes of the metrics path
//! served at once, as node_exporter's flag does with promhttp's
//! `MaxRequestsInFlight`: beyond the limit a scrape gets `503` with
//! promhttp's body ("Limit of concurrent requests reached (N), try again
//! later."). A request counts until its response body is sent, as in
//! promhttp, whose handler writes the body before returning. Only the
//! metrics path is limited (the other routes are cheap, and health probes
//! keep answering while scrapes pile up). `0` means no limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limit: a semaphore of `max` permits.
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    max: usize,
    permits: Arc<Semaphore>,
}

impl InFlightLimit {
    /// `max` requests at once (at least 1; `0` is "no limit" and is not
    /// built, see [`super::router`]).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            max,
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

/// A body that holds its request's permit until it is dropped.
struct Held {
    inner: Body,
    _permit: OwnedSemaphorePermit,
}

impl HttpBody for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The middleware (on the metrics route).
pub async fn limit(State(limit): State<InFlightLimit>, request: Request, next: Next) -> Response {
    let Ok(permit) = limit.permits.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            format!(
                "Limit of concurrent requests reached ({}), try again later.\n",
                limit.max
            ),
        )
            .into_response();
    };
    let response = next.run(request).await;
    response.map(|inner| {
        Body::new(Held {
            inner,
            _permit: permit,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_request_beyond_the_limit_gets_promhttps_503() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let entered = Arc::new(tokio::sync::Semaphore::new(0));
        let (g, e) = (gate.clone(), entered.clone());
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let (g, e) = (g.clone(), e.clone());
                    async move {
                        e.add_permits(1);
                        g.notified().await;
                        "data"
                    }
                }),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                InFlightLimit::new(1),
                limit,
            ));
        let req = || {
            axum::http::Request::get("/metrics")
                .body(Body::empty())
                .unwrap()
        };
        let first = tokio::spawn(app.clone().oneshot(req()));
        // The first request is inside the handler, holding the permit.
        entered.acquire().await.unwrap().forget();
        let second = app.clone().oneshot(req()).await.unwrap();
        assert_eq!(second.status(), 503);
        let body = axum::body::to_bytes(second.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            b"Limit of concurrent requests reached (1), try again later.\n"
        );
        gate.notify_one();
        let first = first.await.unwrap().unwrap();
        assert_eq!(first.status(), 200);
        // The permit is held until the body is gone.
        let busy = app.clone().oneshot(req()).await.unwrap();
        assert_eq!(busy.status(), 503, "the first body is still unsent");
        drop(first);
        let third = tokio::spawn(app.clone().oneshot(req()));
        entered.acquire().await.unwrap().forget();
        gate.notify_one();
        assert_eq!(third.await.unwrap().unwrap().status(), 200);
    }
}
