//! The store conformance suite on the memory store, on a fake clock and on the real one
//! (the conditions a server-clocked store runs it under).

mod fake_clock {
    floodgate_store::conformance_tests!(floodgate_store::conformance::MemoryHarness::fake());
}

mod real_clock {
    floodgate_store::conformance_tests!(floodgate_store::conformance::MemoryHarness::real());
}
