#![allow(missing_docs)] // field names are the spec's
//! The image configuration as docker writes it (OCI image config plus docker's extra keys:
//! `Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`). Maps are `BTreeMap` so the JSON is
//! canonical and digests are reproducible.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole config blob (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The runtime defaults of an image (docker's `Config`). Like Go's `omitempty`, an empty
/// list, map or string is not written: `CMD []` leaves no `Cmd` (docker inspect shows `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "not_true")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub shell: Option<Vec<String>>,
}

/// Go's `omitempty` for the optional values of [`ContainerConfig`].
fn none_or_empty<T: OmitEmpty>(v: &Option<T>) -> bool {
    v.as_ref().is_none_or(OmitEmpty::is_empty_value)
}

/// Go's `omitempty` for a `bool`.
fn not_true(v: &Option<bool>) -> bool {
    *v != Some(true)
}

/// What Go's `omitempty` treats as empty.
trait OmitEmpty {
    fn is_empty_value(&self) -> bool;
}

impl OmitEmpty for String {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl<T> OmitEmpty for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl<K, V> OmitEmpty for BTreeMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

/// `{}` in JSON (ExposedPorts and Volumes values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// docker's health check config; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}
