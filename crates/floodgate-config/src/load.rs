//! Reading a config: file -> text -> [`RawConfig`](crate::raw::RawConfig) -> validated
//! [`Config`].

use crate::error::{self, ConfigError};
use crate::resolved::Config;
use crate::validate;
use std::path::Path;

impl Config {
    /// Reads, parses and validates the config file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str(&text, path)
    }

    /// Parses and validates config `text`; `path` names it in messages and becomes
    /// [`Config::source`].
    #[allow(clippy::should_implement_trait)] // needs the path too, so not `FromStr`
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw = toml::from_str(text).map_err(|e| error::from_toml(path, text, &e))?;
        validate::validate(&raw, path, text)
    }
}
