//! Package settings read with `cargo_metadata`: `[package.metadata.vyre]`
//! (`targets`, `cuda-archs`) and the features the package enabled on its
//! `vyre` dependency.

use std::collections::BTreeSet;
use std::path::Path;

use crate::Error;

/// What the package's manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PackageSettings {
    /// `[package.metadata.vyre] targets`.
    pub targets: Option<Vec<String>>,
    /// `[package.metadata.vyre] cuda-archs`.
    pub cuda_archs: Option<Vec<String>>,
    /// Features of `vyre` the package turns on (directly, or through one of
    /// its own features that is enabled in this build).
    pub vyre_features: BTreeSet<String>,
    /// The name the package uses for `vyre` (a `package = "vyre"` rename).
    pub vyre_crate: Option<String>,
    /// Set when `cargo metadata` could not be used and the environment
    /// fallback was taken; the reason, for a `cargo::warning`.
    pub fallback: Option<String>,
}

fn env_feature(name: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

/// The fallback when `cargo metadata` fails: the package's own features
/// `cuda` and `wgpu`, by the convention that they forward to `vyre/cuda` and
/// `vyre/wgpu` (cargo exposes only the package's own features to a build
/// script, as `CARGO_FEATURE_*`).
fn from_env(reason: String) -> PackageSettings {
    PackageSettings {
        vyre_features: ["cuda", "wgpu"]
            .into_iter()
            .filter(|f| env_feature(f))
            .map(str::to_string)
            .collect(),
        fallback: Some(reason),
        ..PackageSettings::default()
    }
}

fn string_list(value: &serde_json::Value, key: &str) -> Result<Option<Vec<String>>, Error> {
    let Some(v) = value.get(key) else {
        return Ok(None);
    };
    let bad = || {
        Error::Config(format!(
            "`[package.metadata.vyre] {key}` must be a list of strings, e.g. `{key} = [\"...\"]`"
        ))
    };
    let items = v.as_array().ok_or_else(bad)?;
    items
        .iter()
        .map(|item| item.as_str().map(str::to_string).ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Read the settings of the package whose manifest is `manifest`.
pub(crate) fn read(manifest: &Path) -> Result<PackageSettings, Error> {
    let metadata = match cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()
    {
        Ok(m) => m,
        Err(e) => return Ok(from_env(format!("`cargo metadata` failed ({e})"))),
    };
    let canonical = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let Some(pkg) = metadata.packages.iter().find(|p| {
        let path = p.manifest_path.as_std_path();
        path == manifest || path.canonicalize().is_ok_and(|c| c == canonical)
    }) else {
        return Ok(from_env(format!(
            "`cargo metadata` did not list the package of `{}`",
            manifest.display()
        )));
    };
    let mut settings = PackageSettings::default();
    if let Some(vyre) = pkg.metadata.get("vyre") {
        if !vyre.is_object() {
            return Err(Error::Config(
                "`[package.metadata.vyre]` must be a table".to_string(),
            ));
        }
        settings.targets = string_list(vyre, "targets")?;
        settings.cuda_archs = string_list(vyre, "cuda-archs")?;
    }
    // Names under which the package refers to vyre: the dependency name or
    // its rename.
    let mut names: BTreeSet<String> = BTreeSet::new();
    for dep in &pkg.dependencies {
        if dep.name != "vyre" || dep.kind != cargo_metadata::DependencyKind::Normal {
            continue;
        }
        let local = dep.rename.clone().unwrap_or_else(|| dep.name.clone());
        if local != "vyre" {
            settings.vyre_crate = Some(local.replace('-', "_"));
        }
        names.insert(local);
        settings.vyre_features.extend(dep.features.iter().cloned());
    }
    // `[features] cuda = ["vyre/cuda"]`: counts when the package's feature
    // is enabled in this build (cargo sets CARGO_FEATURE_<NAME>, for
    // implied features too).
    for (feature, entries) in &pkg.features {
        if !env_feature(feature) {
            continue;
        }
        for entry in entries {
            if let Some((dep, feat)) = entry.split_once('/') {
                let dep = dep.trim_end_matches('?');
                if names.contains(dep) {
                    settings.vyre_features.insert(feat.to_string());
                }
            }
        }
    }
    Ok(settings)
}
