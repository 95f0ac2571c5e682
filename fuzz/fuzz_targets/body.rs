//! The body reader: any bytes, as JSON, as a form, unlabelled, or as a GET
//! query string. It may refuse; it may not panic, hang or nest without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recording_archiver::body::{decode_body, decode_query, Encoding};

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::Json, Encoding::Form, Encoding::Unknown] {
        let _ = decode_body(encoding, data);
    }
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = decode_query(query);
    }
});
