//! One module per subcommand, each with its `Args` and a `run` function.

pub(crate) mod batch;
pub(crate) mod check_config;
pub(crate) mod demo;
pub(crate) mod hash_key;
pub(crate) mod keys;
pub(crate) mod mock_upstream;
pub(crate) mod serve;
