//! Buckets read from S3 through the AWS SDK for Rust: AWS S3 with the usual credential chain,
//! or an S3-compatible endpoint (`serve --s3-endpoint-url`).

use engine::store::BoxFuture;
use engine::trails::BucketCheck;
use ingest::follow::{Buckets, Object, Unreadable};

use crate::setup::sdk::said;

/// S3, through one client.
pub struct S3Buckets {
    client: aws_sdk_s3::Client,
}

impl S3Buckets {
    /// A client of `endpoint_url` (path-style, as S3-compatible servers want), else of AWS S3
    /// whatever `AWS_ENDPOINT_URL` says: that names the endpoint of the user's tools, often
    /// trailwatch itself.
    pub async fn connect(endpoint_url: Option<&str>, region: &str) -> S3Buckets {
        let endpoint = crate::setup::sdk::Endpoint {
            endpoint_url: None,
            region: Some(region.to_owned()),
            profile: None,
        };
        let shared = crate::setup::sdk::shared_config(&endpoint, None).await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        config.set_endpoint_url(endpoint_url.map(str::to_owned));
        if endpoint_url.is_some() {
            config = config.force_path_style(true);
        }
        S3Buckets {
            client: aws_sdk_s3::Client::from_conf(config.build()),
        }
    }
}

impl BucketCheck for S3Buckets {
    fn exists<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            match self.client.head_bucket().bucket(bucket).send().await {
                Ok(_) => Ok(true),
                Err(e) => {
                    let missing = e.as_service_error().is_some_and(|s| s.is_not_found())
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                    if missing { Ok(false) } else { Err(said(e)) }
                }
            }
        })
    }
}

impl Buckets for S3Buckets {
    fn list<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
        start_after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(str::to_owned))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(said)?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
            }
            Ok(keys)
        })
    }

    fn children<'a>(
        &'a self,
        bucket: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let mut names = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(said)?;
                names.extend(page.common_prefixes().iter().filter_map(|p| {
                    let name = p.prefix()?.strip_prefix(prefix)?.trim_end_matches('/');
                    (!name.is_empty()).then(|| name.to_owned())
                }));
            }
            Ok(names)
        })
    }

    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Object, Unreadable>> {
        Box::pin(async move {
            let object = match self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(object) => object,
                Err(e) => {
                    // S3's answer (access denied, an archived object) stands until someone
                    // changes the bucket; a failure to reach S3 passes. A key gone since it
                    // was listed is simply not listed next time.
                    let lasting = e.as_service_error().is_some_and(|s| !s.is_no_such_key());
                    return Err(Unreadable {
                        reason: said(e),
                        lasting,
                    });
                }
            };
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| Unreadable::passing(format!("cannot read the object: {e}")))?
                .into_bytes()
                .to_vec();
            // An S3 object is whole once it can be read.
            Ok(Object {
                bytes,
                settled: true,
            })
        })
    }
}
