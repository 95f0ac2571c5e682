//! Uploads kept for the janitor, in sled: upload id → [`Abandoned`].

use super::kv::{decode, encode, Tree, Tx, TxError};
use super::SledRepo;
use crate::queue::UploadRecord;
use crate::state::{Abandoned, StateError, UploadRepo};
use crate::time::Timestamp;

/// Keeps `rec` for the janitor in the transaction `tx`.
pub fn abandon_in(tx: &Tx, rec: UploadRecord, now: Timestamp) -> Result<(), TxError> {
    let a = Abandoned::new(rec, now);
    tx.insert(Tree::Abandoned, a.upload.upload_id.as_bytes(), &encode(&a))
}

#[async_trait::async_trait]
impl UploadRepo for SledRepo {
    async fn abandon(&self, rec: UploadRecord, now: Timestamp) -> Result<(), StateError> {
        self.blocking(move |i| i.db.transaction(|tx| abandon_in(tx, rec.clone(), now)))
            .await
    }

    async fn abandoned_due(&self, now: Timestamp) -> Result<Vec<Abandoned>, StateError> {
        self.blocking(move |i| {
            let mut due = Vec::new();
            for item in i.db.iter(Tree::Abandoned) {
                let (_, v) = item?;
                let a: Abandoned = decode(Tree::Abandoned, &v)?;
                if a.next_at <= now {
                    due.push(a);
                }
            }
            Ok(due)
        })
        .await
    }

    async fn abandoned_ids(&self) -> Result<Vec<String>, StateError> {
        self.blocking(|i| {
            i.db.iter(Tree::Abandoned)
                .map(|item| {
                    let (_, v) = item?;
                    Ok(decode::<Abandoned>(Tree::Abandoned, &v)?.upload.upload_id)
                })
                .collect()
        })
        .await
    }

    async fn abandoned_later(&self, a: Abandoned) -> Result<(), StateError> {
        self.blocking(move |i| {
            i.db.insert(Tree::Abandoned, a.upload.upload_id.as_bytes(), &encode(&a))
        })
        .await
    }

    async fn abandoned_gone(&self, upload_id: &str) -> Result<(), StateError> {
        let id = upload_id.to_owned();
        self.blocking(move |i| i.db.remove(Tree::Abandoned, id.as_bytes()))
            .await
    }
}
