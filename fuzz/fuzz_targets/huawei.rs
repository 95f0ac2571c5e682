//! The huawei parser, fed whatever the body reader makes of any bytes (JSON,
//! form or query string). It may refuse a record; it may not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recording_archiver::providers::Provider;

fuzz_target!(|data: &[u8]| {
    recording_archiver::fuzzing::parse_as(Provider::Huawei, data);
});
