//! `catalog rebuild`: a lost state store's catalog, recreated from the
//! bucket: the manifests first, then the sidecars beside the objects (an
//! entry filed after the last manifest is only there). Entries keep their
//! ids, checksums and keys. This instance's entries found only in sidecars
//! are queued for its next manifest.

use crate::catalog::CatalogEntry;
use crate::state::Repo;
use crate::store::Store;

/// What a rebuild found.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rebuilt {
    /// Entries filed from the manifests.
    pub from_manifests: usize,
    /// Entries filed from sidecars (in no manifest).
    pub from_sidecars: usize,
    /// Entries the catalog already held.
    pub already: usize,
    /// Entries of other instances left out.
    pub other_instances: usize,
}

/// Rebuilds `repo`'s catalog from `store`; with `instance`, only that
/// instance's entries (and those that name none).
pub async fn rebuild(
    repo: &Repo,
    store: &Store,
    instance: Option<&str>,
) -> Result<Rebuilt, String> {
    let mut r = Rebuilt::default();
    let keep = |e: &CatalogEntry| match (instance, e.instance_id.as_deref()) {
        (Some(want), Some(has)) => want == has,
        _ => true,
    };
    for key in store.list(super::PREFIX).await.map_err(|f| f.message)? {
        if !key.ends_with(".jsonl") {
            continue;
        }
        let Some(body) = store.get(&key).await.map_err(|f| f.message)? else {
            continue;
        };
        for entry in super::entries(&body) {
            if !keep(&entry) {
                r.other_instances += 1;
            } else if file(repo, entry, false).await? {
                r.from_manifests += 1;
            } else {
                r.already += 1;
            }
        }
    }
    for prefix in store.fixed_prefixes() {
        for key in store.list(&prefix).await.map_err(|f| f.message)? {
            if !key.ends_with(".json") || key.starts_with(super::PREFIX) {
                continue;
            }
            let Some(body) = store.get(&key).await.map_err(|f| f.message)? else {
                continue;
            };
            // A part's sidecar, or a segment's kept ahead of its playlist,
            // is not an entry.
            let Ok(entry) = serde_json::from_slice::<CatalogEntry>(&body) else {
                continue;
            };
            if entry.file.playlist.is_some() {
                continue;
            }
            if !keep(&entry) {
                r.other_instances += 1;
            } else if file(repo, entry, instance.is_some()).await? {
                r.from_sidecars += 1;
            } else {
                r.already += 1;
            }
        }
    }
    repo.durable().await.map_err(|e| e.to_string())?;
    Ok(r)
}

/// Files `entry` unless the catalog holds it (true when filed); queued for
/// the manifests when `to_manifest`.
async fn file(repo: &Repo, entry: CatalogEntry, to_manifest: bool) -> Result<bool, String> {
    repo.file_found(entry, to_manifest)
        .await
        .map_err(|e| e.to_string())
}
