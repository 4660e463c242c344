//! OS images and their tags.
//!
//! An image is a directory tree (`path`) plus the files nodes boot from
//! (`kernelfile`, `initrdfile`, `imagefile` in `[FILES] IMAGE_FILES`). A tag is a
//! named snapshot of those file names, so that a group or node can stay on a
//! known build while the image moves on. Cloning an image copies its directory
//! (a reflink copy where the filesystem can, a plain copy otherwise). Packing
//! and kernel changes are jobs that this version does not run yet: they answer
//! 503 saying so.

use std::path::Path;

use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::json::Objects;
use super::resource::{
    self, aliased, fetch_rows, field, row_json, Columns, Field, Hooks, Kind, Resource,
};
use super::value::Name;
use super::{Error, Store};

pub static OSIMAGE: Resource = Resource {
    kind: "osimage",
    table: "osimage",
    label: "OS image",
    rename: &["newosimage"],
    fields: FIELDS,
    extra: &["tag", "assigned_tags"],
    member: Some(
        "SELECT n.name FROM node n JOIN \"group\" g ON g.id = n.groupid
         WHERE COALESCE(n.osimageid, g.osimageid) = ?1 ORDER BY n.name",
    ),
    users: Some("SELECT 'group ' || name FROM \"group\" WHERE osimageid = ?1 UNION ALL SELECT 'node ' || name FROM node WHERE osimageid = ?1 LIMIT 11"),
    hooks: &ImageHooks,
};

static FIELDS: &[Field] = &[
    field("path", Kind::Text),
    field("kernelfile", Kind::Text),
    field("initrdfile", Kind::Text),
    field("imagefile", Kind::Text),
    field("kernelversion", Kind::Text),
    field("kernelmodules", Kind::Text),
    field("kerneloptions", Kind::Text),
    field("distribution", Kind::Text),
    field("osrelease", Kind::Text),
    field("grab_filesystems", Kind::List),
    field("grab_exclude", Kind::List),
    aliased("comment", "comments", Kind::Text),
];

/// How long a directory copy for a clone may take.
const COPY_SECONDS_MAX: u64 = 3600;

struct ImageHooks;

impl Hooks for ImageHooks {
    fn before_write(
        &self,
        store: &Store,
        name: &str,
        id: Option<i64>,
        obj: &Map<String, Value>,
        cols: &mut Columns,
    ) -> Result<(), Error> {
        if let Some(path) = obj.get("path").and_then(Value::as_str) {
            if !path.is_empty() && !Path::new(path).is_absolute() {
                return Err(Error::invalid(format!("path '{path}' must be absolute")));
            }
        }
        if id.is_none() {
            let path = store
                .config
                .image_directory
                .join(name)
                .display()
                .to_string();
            resource::set_defaults(
                FIELDS,
                cols,
                [
                    ("path", rusqlite::types::Value::Text(path)),
                    (
                        "distribution",
                        rusqlite::types::Value::Text("redhat".into()),
                    ),
                ],
            );
        }
        Ok(())
    }

    fn after_clone(
        &self,
        store: &Store,
        src: i64,
        dst: i64,
        obj: &Map<String, Value>,
    ) -> Result<(), Error> {
        store.tx.execute(
            "INSERT INTO osimagetag (name, osimageid, kernelfile, initrdfile, imagefile, kerneloptions)
             SELECT name, ?2, kernelfile, initrdfile, imagefile, kerneloptions FROM osimagetag WHERE osimageid = ?1",
            params![src, dst],
        )?;
        let src_path: Option<String> =
            store
                .tx
                .query_row("SELECT path FROM osimage WHERE id = ?1", [src], |r| {
                    r.get(0)
                })?;
        let new_name: String =
            store
                .tx
                .query_row("SELECT name FROM osimage WHERE id = ?1", [dst], |r| {
                    r.get(0)
                })?;
        let dst_path = match obj
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            Some(p) => p.to_string(),
            None => {
                let p = store
                    .config
                    .image_directory
                    .join(&new_name)
                    .display()
                    .to_string();
                store.tx.execute(
                    "UPDATE osimage SET path = ?2 WHERE id = ?1",
                    params![dst, p],
                )?;
                p
            }
        };
        if let Some(src_path) = src_path.filter(|p| Path::new(p).is_dir()) {
            copy_tree(&src_path, &dst_path)?;
        }
        Ok(())
    }

    fn render(
        &self,
        store: &Store,
        res: &Resource,
        id: Option<i64>,
        out: &mut Objects,
    ) -> Result<(), Error> {
        let mut tags: std::collections::HashMap<i64, Vec<String>> =
            std::collections::HashMap::new();
        let mut stmt = store
            .tx
            .prepare_cached("SELECT osimageid, name FROM osimagetag ORDER BY name")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            let (image, tag) = row?;
            tags.entry(image).or_default().push(tag);
        }
        for row in fetch_rows(store.tx, res, id)? {
            let mut obj = row_json(res, &row);
            obj.insert(
                "assigned_tags".into(),
                json!(tags.get(&row.id).cloned().unwrap_or_default()),
            );
            out.push(&row.name, &obj);
        }
        Ok(())
    }
}

/// Copies an image tree: a reflink copy where the filesystem supports it,
/// else a plain copy. The target must not exist yet.
fn copy_tree(src: &str, dst: &str) -> Result<(), Error> {
    if Path::new(dst).exists() {
        return Err(Error::invalid(format!(
            "cannot copy the image to {dst}: it already exists"
        )));
    }
    if let Some(parent) = Path::new(dst).parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Internal(format!("{}: {e}", parent.display())))?;
    }
    let limit = std::time::Duration::from_secs(COPY_SECONDS_MAX);
    for reflink in ["--reflink=always", "--reflink=never"] {
        match crate::services::run_for("cp", &["-a", reflink, "--", src, dst], limit) {
            Ok(0) => return Ok(()),
            _ => {
                let _ = std::fs::remove_dir_all(dst);
            }
        }
    }
    Err(Error::Internal(format!("copying {src} to {dst} failed")))
}

pub fn tags_json(store: &Store, image: Option<i64>) -> Result<Map<String, Value>, Error> {
    let filter = if image.is_some() {
        "WHERE t.osimageid = ?1"
    } else {
        ""
    };
    let mut stmt = store.tx.prepare_cached(&format!(
        "SELECT t.name, o.name, t.kernelfile, t.initrdfile, t.imagefile, t.kerneloptions
         FROM osimagetag t JOIN osimage o ON o.id = t.osimageid {filter} ORDER BY t.name, o.name"
    ))?;
    let map = |r: &rusqlite::Row| -> rusqlite::Result<(String, Value)> {
        let tag: String = r.get(0)?;
        let value = json!({
            "name": tag, "osimage": r.get::<_, String>(1)?, "kernelfile": r.get::<_, Option<String>>(2)?,
            "initrdfile": r.get::<_, Option<String>>(3)?, "imagefile": r.get::<_, Option<String>>(4)?,
            "kerneloptions": r.get::<_, Option<String>>(5)?,
        });
        Ok((tag, value))
    };
    let rows: Vec<(String, Value)> = match image {
        Some(id) => stmt.query_map([id], map)?.collect::<Result<_, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<_, _>>()?,
    };
    let mut out = Map::new();
    for (tag, value) in rows {
        // Tag names are unique per image; across images the key says which.
        let key = if out.contains_key(&tag) {
            format!("{tag} ({})", value["osimage"].as_str().unwrap_or(""))
        } else {
            tag
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Restores exported tags (`tags_json` output).
pub fn import_tags(store: &Store, tags: &Map<String, Value>) -> Result<(), Error> {
    for tag in tags.values() {
        let field = |k: &str| tag.get(k).and_then(Value::as_str).map(str::to_string);
        let name = field("name").ok_or_else(|| Error::invalid("an osimage tag has no name"))?;
        let image = field("osimage")
            .ok_or_else(|| Error::invalid(format!("tag '{name}' names no osimage")))?;
        let id = resource::require_id(store.tx, &OSIMAGE, &image)?;
        Name::parse(OSIMAGE.kind, &name)?;
        store.tx.execute(
            "INSERT INTO osimagetag (name, osimageid, kernelfile, initrdfile, imagefile, kerneloptions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(osimageid, name) DO UPDATE SET kernelfile = excluded.kernelfile,
                 initrdfile = excluded.initrdfile, imagefile = excluded.imagefile, kerneloptions = excluded.kerneloptions",
            params![name, id, field("kernelfile"), field("initrdfile"), field("imagefile"), field("kerneloptions")],
        )?;
    }
    Ok(())
}

/// Snapshots an image's current files and options under `tag` (replacing an
/// older snapshot of the same name).
pub fn snapshot_tag(store: &Store, image: i64, tag: &str) -> Result<(), Error> {
    Name::parse(OSIMAGE.kind, tag)?;
    store.tx.execute(
        "INSERT INTO osimagetag (name, osimageid, kernelfile, initrdfile, imagefile, kerneloptions)
         SELECT ?2, id, kernelfile, initrdfile, imagefile, kerneloptions FROM osimage WHERE id = ?1
         ON CONFLICT(osimageid, name) DO UPDATE SET kernelfile = excluded.kernelfile, initrdfile = excluded.initrdfile,
             imagefile = excluded.imagefile, kerneloptions = excluded.kerneloptions",
        params![image, tag],
    )?;
    Ok(())
}

/// The nodes that boot a tag of the image (their own or their group's).
pub fn tag_users(store: &Store, image: i64) -> Result<Vec<String>, Error> {
    let members: Vec<String> = store
        .tx
        .prepare_cached(
            "SELECT n.name FROM node n JOIN \"group\" g ON g.id = n.groupid
             JOIN osimagetag t ON t.id = COALESCE(n.osimagetagid, g.osimagetagid)
             WHERE t.osimageid = ?1 ORDER BY n.name",
        )?
        .query_map([image], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(members)
}

/// Deletes tag `tag` of image `image` (named `name`), unless a group or node
/// pins it.
pub fn delete_tag_of(store: &Store, image: i64, name: &str, tag: &str) -> Result<(), Error> {
    let tag_id: i64 = store
        .tx
        .query_row(
            "SELECT id FROM osimagetag WHERE osimageid = ?1 AND name = ?2",
            params![image, tag],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::not_found(format!("osimage '{name}' has no tag '{tag}'")))?;
    let users: Vec<String> = store
        .tx
        .prepare_cached(
            "SELECT 'group ' || name FROM \"group\" WHERE osimagetagid = ?1
             UNION ALL SELECT 'node ' || name FROM node WHERE osimagetagid = ?1 LIMIT 10",
        )?
        .query_map([tag_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !users.is_empty() {
        return Err(Error::invalid(format!(
            "tag '{tag}' of osimage '{name}' is in use by {}",
            users.join(", ")
        )));
    }
    store
        .tx
        .execute("DELETE FROM osimagetag WHERE id = ?1", [tag_id])?;
    Ok(())
}
