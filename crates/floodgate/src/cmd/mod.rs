//! One module per subcommand, each with its `Args` and a `run` function.

pub(crate) mod hash_key;
