//! Where a resource lives: an account in a region of a partition, as AWS scopes them.
//!
//! Every log group, metric, alarm and topic belongs to one [`Scope`]; the same name in two
//! scopes is two resources. A request is served in the scope of its signature (the key's
//! account, the credential's region). The regions and partitions are botocore's
//! (`data/partitions.json`, copied unchanged): every region AWS lists is served, and a region
//! no partition lists is refused rather than quietly becoming a scope of its own.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

/// An AWS partition: `aws`, `aws-cn`, `aws-us-gov`, …
#[derive(Debug, PartialEq, Eq)]
pub struct Partition {
    /// The partition of ARNs (`arn:<id>:…`).
    pub id: String,
    /// The DNS suffix of its endpoints (`amazonaws.com`, `amazonaws.com.cn`).
    pub dns_suffix: String,
}

/// A region of a partition.
#[derive(Debug, PartialEq, Eq)]
pub struct Region {
    /// `eu-west-1`.
    pub name: String,
    /// botocore's description: `Europe (Ireland)`.
    pub description: String,
    pub partition: &'static Partition,
}

impl Region {
    /// The known region called `name`.
    pub fn named(name: &str) -> Option<&'static Region> {
        regions().iter().find(|r| r.name == name)
    }

    /// The long name CloudWatch puts in notifications (`in EU (Ireland)`): botocore's
    /// description, with CloudWatch's legacy `EU (…)` for what botocore now calls
    /// `Europe (…)`.
    pub fn long_name(&self) -> String {
        match self.description.strip_prefix("Europe (") {
            Some(rest) => format!("EU ({rest}"),
            None => self.description.clone(),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Every region of every partition, in botocore's order.
pub fn regions() -> &'static [Region] {
    static REGIONS: OnceLock<Vec<Region>> = OnceLock::new();
    REGIONS.get_or_init(|| {
        let file: PartitionsFile = serde_json::from_str(include_str!("../data/partitions.json"))
            .expect("the embedded partitions.json is botocore's and parses");
        let mut regions = Vec::new();
        for p in file.partitions {
            let partition: &'static Partition = Box::leak(Box::new(Partition {
                id: p.outputs.name,
                dns_suffix: p.outputs.dns_suffix,
            }));
            for (name, region) in p.regions {
                // `aws-global` and its kind name global endpoints, not regions.
                if name == format!("{}-global", partition.id) {
                    continue;
                }
                regions.push(Region {
                    name,
                    description: region.description,
                    partition,
                });
            }
        }
        regions
    })
}

#[derive(Deserialize)]
struct PartitionsFile {
    partitions: Vec<PartitionEntry>,
}

#[derive(Deserialize)]
struct PartitionEntry {
    outputs: PartitionOutputs,
    // botocore keeps them sorted by name; a Vec of pairs keeps that order.
    #[serde(deserialize_with = "ordered_map")]
    regions: Vec<(String, RegionEntry)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartitionOutputs {
    name: String,
    dns_suffix: String,
}

#[derive(Deserialize)]
struct RegionEntry {
    description: String,
}

fn ordered_map<'de, D>(d: D) -> Result<Vec<(String, RegionEntry)>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, RegionEntry)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of regions")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some(pair) = map.next_entry()? {
                pairs.push(pair);
            }
            Ok(pairs)
        }
    }
    d.deserialize_map(Pairs)
}

/// Why a region cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("'{0}' is not a region of any AWS partition")]
    Unknown(String),
    #[error("region '{0}' is not served here (serving: {1})")]
    NotServed(String, String),
}

/// The regions a server answers: all of them, or those the operator listed.
#[derive(Debug, Clone, Default)]
pub struct Regions {
    only: Option<Vec<&'static Region>>,
}

impl Regions {
    /// Every region of every partition.
    pub const fn all() -> Regions {
        Regions { only: None }
    }

    /// Only these (`eu-west-1,us-east-1`); an unknown name is an error.
    pub fn only(names: &[String]) -> Result<Regions, RegionError> {
        let only = names
            .iter()
            .map(|n| Region::named(n.trim()).ok_or_else(|| RegionError::Unknown(n.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Regions { only: Some(only) })
    }

    /// The served region called `name`.
    pub fn get(&self, name: &str) -> Result<&'static Region, RegionError> {
        let region = Region::named(name).ok_or_else(|| RegionError::Unknown(name.to_owned()))?;
        match &self.only {
            Some(only) if !only.contains(&region) => Err(RegionError::NotServed(
                name.to_owned(),
                only.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            _ => Ok(region),
        }
    }
}

/// An account in a region: where a resource lives.
#[derive(Clone)]
pub struct Scope {
    region: &'static Region,
    account: Arc<str>,
}

impl Scope {
    pub fn new(account: &str, region: &'static Region) -> Scope {
        Scope {
            region,
            account: account.into(),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &'static Region {
        self.region
    }

    /// The region's name, `eu-west-1`.
    pub fn region_name(&self) -> &'static str {
        &self.region.name
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.region.partition.id, self.region.name, self.account
        )
    }

    fn key(&self) -> (&str, &str) {
        (&self.region.name, &self.account)
    }
}

/// Where `trailwatch serve` keeps what no request scopes otherwise: account `000000000000` in
/// `us-east-1`, its defaults.
impl Default for Scope {
    fn default() -> Scope {
        Scope::new(
            "000000000000",
            Region::named("us-east-1").expect("us-east-1 is a region"),
        )
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Scope {}

impl std::hash::Hash for Scope {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Scope) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scope {
    fn cmp(&self, other: &Scope) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region.name)
    }
}

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(arn: &'a str) -> Option<Arn<'a>> {
        let mut parts = arn.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// The name of the log group a CloudWatch Logs ARN names
    /// (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`), if it names one.
    pub fn log_group(&self) -> Option<&'a str> {
        let name = self.resource.strip_prefix("log-group:")?;
        let name = name.strip_suffix(":*").unwrap_or(name);
        (self.service == "logs" && !name.is_empty()).then_some(name)
    }

    /// The scope the ARN names, if its region is known and its partition the region's.
    pub fn scope(&self) -> Option<Scope> {
        let region = Region::named(self.region)?;
        (region.partition.id == self.partition).then(|| Scope::new(self.account, region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_botocore() {
        let cn = Region::named("cn-north-1").expect("a known region");
        assert_eq!(cn.partition.id, "aws-cn");
        assert_eq!(cn.partition.dns_suffix, "amazonaws.com.cn");
        assert_eq!(
            Region::named("us-gov-west-1")
                .expect("a known region")
                .partition
                .id,
            "aws-us-gov"
        );
        assert_eq!(
            Region::named("eu-central-1")
                .expect("a known region")
                .partition
                .id,
            "aws"
        );
        assert!(Region::named("aws-global").is_none());
        assert!(Region::named("eu-wets-1").is_none());
        assert!(regions().len() > 40);
    }

    #[test]
    fn long_names_are_cloudwatchs() {
        let long = |r: &str| Region::named(r).expect("a known region").long_name();
        assert_eq!(long("us-east-1"), "US East (N. Virginia)");
        assert_eq!(long("eu-west-1"), "EU (Ireland)");
        assert_eq!(long("eu-central-1"), "EU (Frankfurt)");
        assert_eq!(long("ap-southeast-1"), "Asia Pacific (Singapore)");
        assert_eq!(long("cn-north-1"), "China (Beijing)");
    }

    #[test]
    fn arns_carry_partition_region_and_account() {
        let scope = Scope::new(
            "123456789012",
            Region::named("cn-north-1").expect("a known region"),
        );
        let arn = scope.arn("sns", "alerts");
        assert_eq!(arn, "arn:aws-cn:sns:cn-north-1:123456789012:alerts");
        assert_eq!(Arn::parse(&arn).expect("an ARN").scope(), Some(scope));
        // A region in the wrong partition names no scope.
        assert_eq!(
            Arn::parse("arn:aws:sns:cn-north-1:123456789012:alerts")
                .expect("an ARN")
                .scope(),
            None
        );
    }

    #[test]
    fn regions_can_be_restricted() {
        let some = Regions::only(&["eu-west-1".into()]).expect("known regions");
        assert!(some.get("eu-west-1").is_ok());
        assert!(matches!(
            some.get("us-east-1"),
            Err(RegionError::NotServed(..))
        ));
        assert!(matches!(
            Regions::all().get("xx-1"),
            Err(RegionError::Unknown(_))
        ));
        assert!(Regions::only(&["nowhere-1".into()]).is_err());
    }
}
