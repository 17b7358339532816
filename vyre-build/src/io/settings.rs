//! Package settings read with `cargo_metadata`: `[package.metadata.vyre]`
//! (`targets`, `cuda-archs`) and the features the package enabled on its
//! `vyre` dependency.

use std::collections::BTreeSet;
use std::path::Path;

use crate::Error;
use crate::plan::PackageSettings;

fn env_feature(name: &str) -> bool {
    let var = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
    std::env::var_os(var).is_some()
}

/// The fallback when `cargo metadata` fails: the package's own features
/// `cuda` and `wgpu`, by the convention that they forward to `vyre/cuda` and
/// `vyre/wgpu` (cargo exposes only the package's own features to a build
/// script, as `CARGO_FEATURE_*`).
fn from_env(reason: String, enabled: &dyn Fn(&str) -> bool) -> PackageSettings {
    PackageSettings {
        vyre_features: ["cuda", "wgpu"]
            .into_iter()
            .filter(|f| enabled(f))
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

/// Read the settings of the package whose manifest is `manifest`, in a
/// build script (package features from `CARGO_FEATURE_*`).
pub(crate) fn read(manifest: &Path) -> Result<PackageSettings, Error> {
    read_with(manifest, &env_feature)
}

/// [`read`], with `enabled` telling which of the package's own features
/// are on.
pub(crate) fn read_with(
    manifest: &Path,
    enabled: &dyn Fn(&str) -> bool,
) -> Result<PackageSettings, Error> {
    let metadata = match cargo_metadata::MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()
    {
        Ok(m) => m,
        Err(e) => {
            return Ok(from_env(format!("`cargo metadata` failed ({e})"), enabled));
        }
    };
    let canonical = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let Some(pkg) = metadata.packages.iter().find(|p| {
        let path = p.manifest_path.as_std_path();
        path == manifest || path.canonicalize().is_ok_and(|c| c == canonical)
    }) else {
        return Ok(from_env(
            format!(
                "`cargo metadata` did not list the package of `{}`",
                manifest.display()
            ),
            enabled,
        ));
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
        if !enabled(feature) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, manifest_body: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vyre-build-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        let vyre = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let text = manifest_body.replace("@VYRE@", &vyre.to_string_lossy().replace('\\', "/"));
        std::fs::write(dir.join("Cargo.toml"), text).unwrap();
        dir
    }

    #[test]
    fn metadata_targets_archs_and_vyre_features() {
        let dir = package(
            "meta",
            "[package]\nname = \"meta-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nvyre = { path = \"@VYRE@\", features = [\"cuda\"] }\n\n[features]\ngpu = [\"vyre/wgpu\"]\nother = []\n\n[package.metadata.vyre]\ntargets = [\"reference\", \"ptx\"]\ncuda-archs = [\"sm_90\"]\n\n[workspace]\n",
        );
        let manifest = dir.join("Cargo.toml");
        let off = read_with(&manifest, &|_| false).unwrap();
        assert_eq!(off.fallback, None);
        assert_eq!(
            off.targets,
            Some(vec!["reference".to_string(), "ptx".to_string()])
        );
        assert_eq!(off.cuda_archs, Some(vec!["sm_90".to_string()]));
        assert_eq!(off.vyre_features.iter().collect::<Vec<_>>(), ["cuda"]);
        // The package's `gpu` feature forwards to `vyre/wgpu`.
        let on = read_with(&manifest, &|f| f == "gpu").unwrap();
        assert_eq!(
            on.vyre_features.iter().collect::<Vec<_>>(),
            ["cuda", "wgpu"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_metadata_is_an_error_and_a_broken_manifest_falls_back() {
        let dir = package(
            "bad",
            "[package]\nname = \"bad-probe\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[package.metadata.vyre]\ntargets = \"reference\"\n\n[workspace]\n",
        );
        let err = read_with(&dir.join("Cargo.toml"), &|_| false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`[package.metadata.vyre] targets` must be a list of strings"),
            "{err}"
        );
        std::fs::write(dir.join("Cargo.toml"), "this is not toml [").unwrap();
        let fallback = read_with(&dir.join("Cargo.toml"), &|f| f == "wgpu").unwrap();
        assert!(fallback.fallback.is_some());
        assert_eq!(fallback.vyre_features.iter().collect::<Vec<_>>(), ["wgpu"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
