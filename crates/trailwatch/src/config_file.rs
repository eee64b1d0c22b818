//! Configuration files: reading one, and the settings it gives the commands that take it.

use std::path::Path;

use config::{File, Parsed};
use engine::scope::Region;

/// Reads and checks a configuration file.
pub fn read(path: &Path) -> Result<Parsed, config::Error> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| config::Error {
        file: name.clone(),
        line: 0,
        key: String::new(),
        message: format!("cannot read it: {e}"),
    })?;
    File::parse(&name, &text)
}

/// The file's region (us-east-1 when it names none), checked.
pub fn region(parsed: Option<&Parsed>) -> Result<&'static Region, config::Error> {
    let Some(parsed) = parsed else {
        return Ok(home_region());
    };
    match &parsed.file.region {
        None => Ok(home_region()),
        Some(name) => Region::named(name).ok_or_else(|| {
            parsed.error_at(
                &[config::Step::Key("region".into())],
                format!("{name} is not a region of any AWS partition"),
            )
        }),
    }
}

fn home_region() -> &'static Region {
    engine::Config::new(std::path::PathBuf::new(), "").region
}
