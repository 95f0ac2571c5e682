//! Claiming due jobs: the claim is the lease, taken in the lane the
//! claimer serves, stale index entries cleaned on the way.

use std::time::Duration;

use super::due::{self, Lane};
use super::Guard;
use crate::queue::Job;
use crate::state::moves;
use crate::state::sled::kv::{DbError, Tree};
use crate::state::sled::Inner;
use crate::time::{to_millis, Timestamp};

impl Inner {
    /// Claims the first job of `lane` that is due (or whose lease lapsed)
    /// at `now`, leasing it for `lease`. The claim is the lease.
    pub fn claim_in(
        &self,
        lane: Lane,
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Job>, DbError> {
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        for item in due::due_by(&self.db, &now) {
            let due::Entry {
                key: k,
                due_ms,
                job,
                lane: marked,
            } = item?;
            let Some(job_id) = job else {
                self.db.remove(Tree::Due, &k)?;
                continue;
            };
            let theirs = match marked {
                Some(l) => l != lane,
                // An entry from before lanes: the job says.
                None => self.get(job_id)?.is_some_and(|j| Lane::of(j.kind) != lane),
            };
            if theirs {
                continue;
            }
            let claimed = self.transition(
                job_id,
                Guard::Claimable(now),
                moves::claimed(now, lease_until),
                None,
            )?;
            match claimed {
                Some(job) => return Ok(Some(job)),
                // Another worker took it first, or the entry is stale (a
                // crash between index and job writes); only a stale one goes.
                None => {
                    let current = self.get(job_id)?.and_then(|j| j.due_at());
                    if current.map(|d| to_millis(&d)) != due_ms {
                        self.db.remove(Tree::Due, &k)?;
                    }
                }
            }
        }
        Ok(None)
    }
}
