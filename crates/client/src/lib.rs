//! A client that signs its requests with SigV4, as the AWS CLI does, for what talks to a
//! running server: `trailwatch deliveries` and `trailwatch-bench`.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::bail;
use engine::endpoint::EndpointPolicy;

/// Sends signed POSTs to one server.
#[derive(Clone)]
pub struct SignedClient {
    http: delivery::Client,
    url: String,
    host: String,
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

impl SignedClient {
    /// A client for the server at `url` (`http://host:port`), signing with this key pair for
    /// `region`.
    pub fn new(url: &str, access_key_id: &str, secret: &str, region: &str) -> anyhow::Result<Self> {
        let url = url.trim_end_matches('/').to_owned();
        let host = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(SignedClient {
            // The delivery client: rustls set up, no proxy, a timeout on every request.
            http: delivery::http_client(Arc::new(EndpointPolicy::default()))?,
            url,
            host,
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret.to_owned(),
            region: region.to_owned(),
        })
    }

    /// The HTTP client underneath, for unsigned requests.
    pub fn http(&self) -> &delivery::Client {
        &self.http
    }

    /// POSTs `body` to `/`, signed for `service`; the reply's text on success, its status and
    /// text in the error otherwise.
    pub async fn post(
        &self,
        service: &str,
        content_type: &str,
        target: Option<&str>,
        body: Vec<u8>,
    ) -> anyhow::Result<String> {
        let date = aws::sigv4::format_amz_date(SystemTime::now());
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("content-type", content_type.as_bytes()),
            ("host", self.host.as_bytes()),
            ("x-amz-date", date.as_bytes()),
        ];
        if let Some(t) = target {
            headers.push(("x-amz-target", t.as_bytes()));
        }
        let authorization = aws::sigv4::sign(
            &aws::sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: &body,
            },
            &aws::sigv4::SigningParams {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret_access_key,
                region: &self.region,
                service,
            },
        )
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
        let mut request = self
            .http
            .post(format!("{}/", self.url))
            .header("content-type", content_type)
            .header("x-amz-date", date)
            .header("authorization", authorization);
        if let Some(t) = target {
            request = request.header("x-amz-target", t);
        }
        let response = request.body(body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{} answered {status}: {text}", target.unwrap_or(service));
        }
        Ok(text)
    }
}
