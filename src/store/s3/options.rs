//! `[store]`'s object options as S3 request headers: every PutObject,
//! CreateMultipartUpload and CopyObject the store sends carries them.

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{ObjectLockMode, ServerSideEncryption, StorageClass};

use crate::config::ObjectOptions;

/// The options, ready to set on a request.
#[derive(Debug, Clone, Default)]
pub struct Written(pub ObjectOptions);

/// What an object is to the catalog: the recording's bytes, or what
/// describes them (sidecars and manifests, which are read back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    Data,
    Sidecar,
}

impl Written {
    /// The storage class for an object of `role`.
    pub fn class(&self, role: Role) -> Option<StorageClass> {
        let class = match role {
            Role::Data => self.0.storage_class.as_deref(),
            Role::Sidecar => self
                .0
                .sidecar_storage_class
                .as_deref()
                .or(self.0.storage_class.as_deref()),
        };
        class.map(StorageClass::from)
    }

    pub fn sse(&self) -> Option<ServerSideEncryption> {
        self.0
            .server_side_encryption
            .as_deref()
            .map(ServerSideEncryption::from)
    }

    pub fn kms_key(&self) -> Option<String> {
        self.0.sse_kms_key_id.clone()
    }

    pub fn lock_mode(&self) -> Option<ObjectLockMode> {
        self.0.object_lock_mode.as_deref().map(ObjectLockMode::from)
    }

    /// Retained until this many days from now: each object from when it is written.
    pub fn retain_until(&self) -> Option<DateTime> {
        let days = self.0.object_lock_retain_days?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        Some(DateTime::from_secs(now + i64::from(days) * 86_400))
    }

    pub fn tagging(&self) -> Option<String> {
        self.0.tagging()
    }
}

/// Sets the object options of `$role` on a PutObject, CreateMultipartUpload
/// or CopyObject request (their setters share names, not a trait).
macro_rules! with_options {
    ($req:expr, $options:expr, $role:expr) => {{
        let o: &$crate::store::s3::options::Written = $options;
        $req.set_storage_class(o.class($role))
            .set_server_side_encryption(o.sse())
            .set_ssekms_key_id(o.kms_key())
            .set_object_lock_mode(o.lock_mode())
            .set_object_lock_retain_until_date(o.retain_until())
            .set_tagging(o.tagging())
    }};
}
pub(crate) use with_options;

#[cfg(test)]
mod tests {
    use super::{Role, Written};
    use crate::config::ObjectOptions;

    #[test]
    fn sidecars_take_their_own_class_or_the_objects() {
        let mut o = ObjectOptions {
            storage_class: Some("DEEP_ARCHIVE".into()),
            ..Default::default()
        };
        let w = Written(o.clone());
        assert_eq!(w.class(Role::Data).unwrap().as_str(), "DEEP_ARCHIVE");
        assert_eq!(w.class(Role::Sidecar).unwrap().as_str(), "DEEP_ARCHIVE");
        o.sidecar_storage_class = Some("STANDARD".into());
        let w = Written(o);
        assert_eq!(w.class(Role::Sidecar).unwrap().as_str(), "STANDARD");
        assert!(Written::default().class(Role::Data).is_none());
    }
}
