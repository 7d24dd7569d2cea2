//! The longest an admin API request may take: the metadata database's call limit
//! ([`kaa_store::sql::SqlDatabase::call_limit`], the wait for a pooled connection and one
//! statement's limit). The database bounds each statement itself, but one that keeps its
//! connections open and answers nothing (frozen, or cut off without a reset) would hold a request
//! for as long as the operating system keeps the connection; past the limit the request is given
//! up and answered 503 `storage_unavailable`, as a refused connection is.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::error::ApiError;

/// The limit, as the admin API's app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimit(pub std::time::Duration);

/// Answers 503 `storage_unavailable` to an admin API request (`/api/…`) not finished within the
/// limit. Mounted around the node's admin app, outside the audit log's recording.
pub async fn bound(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = match request.app_data::<web::Data<RequestLimit>>() {
        Some(limit) if request.path().starts_with("/api/") => limit.0,
        _ => return Ok(next.call(request).await?.map_into_boxed_body()),
    };
    let path = request.path().to_owned();
    match tokio::time::timeout(limit, next.call(request)).await {
        Ok(response) => Ok(response?.map_into_boxed_body()),
        Err(_) => {
            tracing::warn!(
                path,
                ?limit,
                "admin request not finished within its limit (the metadata database does not answer?); answered 503"
            );
            // Answered as an error: the request itself went with the abandoned handler.
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!(
                    "no answer from storage within {} s; try again",
                    limit.as_secs_f64()
                ),
            )
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test};

    use super::*;

    #[actix_web::test]
    async fn an_api_request_past_the_limit_is_answered_503_storage_unavailable() {
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(RequestLimit(Duration::from_millis(100))))
                .wrap(from_fn(bound))
                .route(
                    "/api/v1/slow",
                    web::get().to(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        HttpResponse::Ok().finish()
                    }),
                )
                .route(
                    "/api/v1/quick",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .route(
                    "/metrics",
                    web::get().to(|| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        let started = std::time::Instant::now();
        let slow = test::TestRequest::get().uri("/api/v1/slow").to_request();
        let answer = test::try_call_service(&app, slow).await;
        let Err(error) = answer else {
            panic!("a request past the limit was answered by its handler");
        };
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "storage_unavailable");
        assert!(started.elapsed() < Duration::from_secs(5));

        let quick = test::TestRequest::get().uri("/api/v1/quick").to_request();
        assert_eq!(
            test::call_service(&app, quick).await.status(),
            StatusCode::OK
        );
        let outside = test::TestRequest::get().uri("/metrics").to_request();
        assert_eq!(
            test::call_service(&app, outside).await.status(),
            StatusCode::OK,
            "only the admin API is bounded"
        );
    }
}
