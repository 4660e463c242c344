//! Templates: boot scripts, install scripts and generated service configs.
//!
//! Every template ships inside the binary (`templates/`); a file of the same name
//! in `[TEMPLATES] TEMPLATE_FILES` replaces the built-in one. They are compiled at
//! start and again by `GET /service/luna2/reload`; a template that does not
//! compile stops the reload (the old set stays in use) with a message naming the
//! template and line.
//!
//! The syntax is upon's with `{{ }}` and `{% %}` and no comment delimiter, so that
//! shell such as `${#list[@]}` passes through untouched.

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// `(name, built-in source)`
const BUILT_IN: &[(&str, &str)] = &[
    (
        "templ_boot_ipxe.cfg",
        include_str!("../templates/templ_boot_ipxe.cfg"),
    ),
    (
        "templ_boot_ipxe_short.cfg",
        include_str!("../templates/templ_boot_ipxe_short.cfg"),
    ),
    (
        "templ_boot_disk.cfg",
        include_str!("../templates/templ_boot_disk.cfg"),
    ),
    (
        "templ_boot_failed.cfg",
        include_str!("../templates/templ_boot_failed.cfg"),
    ),
    (
        "templ_nodeboot.cfg",
        include_str!("../templates/templ_nodeboot.cfg"),
    ),
    (
        "templ_install.cfg",
        include_str!("../templates/templ_install.cfg"),
    ),
    (
        "templ_install_kickstart.cfg",
        include_str!("../templates/templ_install_kickstart.cfg"),
    ),
    (
        "templ_dhcpd.cfg",
        include_str!("../templates/templ_dhcpd.cfg"),
    ),
    (
        "templ_dns_zones_conf.cfg",
        include_str!("../templates/templ_dns_zones_conf.cfg"),
    ),
    (
        "templ_dns_zone.cfg",
        include_str!("../templates/templ_dns_zone.cfg"),
    ),
];

pub struct Templates {
    engine: upon::Engine<'static>,
    /// Where each template came from, for messages.
    origin: Vec<(String, String)>,
}

impl Templates {
    /// Compiles the built-in templates, each replaced by `dir/<name>` if present.
    pub fn load(dir: &Path) -> Result<Templates, String> {
        let syntax = upon::Syntax::builder()
            .expr("{{", "}}")
            .block("{%", "%}")
            .build();
        let mut engine = upon::Engine::with_syntax(syntax);
        let mut origin = Vec::new();
        for (name, built_in) in BUILT_IN {
            let path = dir.join(name);
            let (source, from) = match std::fs::read_to_string(&path) {
                Ok(text) => (text, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (built_in.to_string(), format!("built-in {name}"))
                }
                Err(e) => return Err(format!("template {}: {e}", path.display())),
            };
            engine
                .add_template(name.to_string(), source)
                .map_err(|e| format!("template {from}: {e:#}"))?;
            origin.push((name.to_string(), from));
        }
        Ok(Templates { engine, origin })
    }

    /// Renders `name` with `ctx`. Errors name the template and, from upon, the line.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, String> {
        let from = self
            .origin
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.as_str())
            .unwrap_or(name);
        let template = self
            .engine
            .get_template(name)
            .ok_or_else(|| format!("template {name} does not exist"))?;
        template
            .render(ctx)
            .to_string()
            .map_err(|e| format!("template {from}: {e:#}"))
    }
}

/// The current template set, replaced as a whole on reload.
pub struct Shared {
    dir: std::path::PathBuf,
    current: RwLock<Arc<Templates>>,
}

impl Shared {
    pub fn new(dir: &Path) -> Result<Shared, String> {
        Ok(Shared {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(Templates::load(dir)?)),
        })
    }

    pub fn get(&self) -> Arc<Templates> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Recompiles from disk; on failure the running set is kept.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Templates::load(&self.dir)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_compile_and_shell_survives() {
        let dir = std::env::temp_dir().join(format!("luna2d-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("templ_boot_disk.cfg"),
            "#!ipxe\necho ${#list[@]} {{ name }}\n",
        )
        .unwrap();
        let t = Templates::load(&dir).unwrap();
        let out = t
            .render("templ_boot_disk.cfg", serde_json::json!({"name": "n1"}))
            .unwrap();
        assert_eq!(out, "#!ipxe\necho ${#list[@]} n1\n");
        let err = t
            .render("templ_boot_disk.cfg", serde_json::json!({}))
            .unwrap_err();
        assert!(err.contains("templ_boot_disk.cfg"), "{err}");
        std::fs::write(
            dir.join("templ_boot_disk.cfg"),
            "#!ipxe\n{% if x %}\nunclosed\n",
        )
        .unwrap();
        let err = Templates::load(&dir).err().unwrap();
        assert!(err.contains("templ_boot_disk.cfg:2:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
