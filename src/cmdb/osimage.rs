//! OS images and their tags.
//!
//! An image is a directory tree (`path`) plus the files nodes boot from
//! (`kernelfile`, `initrdfile`, `imagefile` in `[FILES] IMAGE_FILES`). A tag is a
//! named snapshot of those file names, so that a group or node can stay on a
//! known build while the image moves on. Cloning creates the row; the tree is
//! copied and packed by a job (`jobs::osimage`), as are packing, grabbing and
//! pushing. The model records what a pack produced (`set_packed`) and the
//! images' states for monitoring.

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
        // The tree is copied by the clone job (`jobs::osimage`), outside any
        // transaction; the target must be free now.
        if src_path.is_some() && Path::new(&dst_path).exists() {
            return Err(Error::invalid(format!(
                "cannot clone into {dst_path}: it already exists"
            )));
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

/// What image jobs need of an image.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    pub name: String,
    pub path: String,
    pub kernelversion: Option<String>,
    pub grab_filesystems: Option<String>,
    pub grab_exclude: Option<String>,
}

pub fn info(store: &Store, name: &str) -> Result<ImageInfo, Error> {
    store
        .tx
        .prepare_cached(
            "SELECT name, path, kernelversion, grab_filesystems, grab_exclude FROM osimage WHERE name = ?1",
        )?
        .query_row([name], |r| {
            Ok(ImageInfo {
                name: r.get(0)?,
                path: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                kernelversion: r.get(2)?,
                grab_filesystems: r.get(3)?,
                grab_exclude: r.get(4)?,
            })
        })
        .optional()?
        .ok_or_else(|| Error::not_found(format!("osimage '{name}' not found")))
        .map(|mut i| {
            if i.path.is_empty() {
                i.path = store.config.image_directory.join(name).display().to_string();
            }
            i
        })
}

/// Records a pack's files on image `name`; answers the files it replaced
/// that nothing (no image, no tag) refers to any more.
pub fn set_packed(
    store: &Store,
    name: &str,
    kernelversion: &str,
    kernelfile: &str,
    initrdfile: &str,
    imagefile: &str,
) -> Result<Vec<String>, Error> {
    let old: Option<(Option<String>, Option<String>, Option<String>)> = store
        .tx
        .prepare_cached("SELECT kernelfile, initrdfile, imagefile FROM osimage WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (k, i, f) = old.ok_or_else(|| Error::not_found(format!("osimage '{name}' not found")))?;
    store.tx.execute(
        "UPDATE osimage SET kernelversion = ?2, kernelfile = ?3, initrdfile = ?4, imagefile = ?5 WHERE name = ?1",
        params![name, kernelversion, kernelfile, initrdfile, imagefile],
    )?;
    let mut stale = Vec::new();
    for file in [k, i, f].into_iter().flatten() {
        if !file_in_use(store, &file)? && !stale.contains(&file) {
            stale.push(file);
        }
    }
    Ok(stale)
}

/// Every file an image or a tag names, and the images' names.
pub fn files_in_use(store: &Store) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut files = Vec::new();
    let mut stmt = store.tx.prepare(
        "SELECT kernelfile, initrdfile, imagefile FROM osimage
         UNION ALL SELECT kernelfile, initrdfile, imagefile FROM osimagetag",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok([
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ])
    })?;
    for row in rows {
        files.extend(row?.into_iter().flatten());
    }
    let names = store
        .tx
        .prepare("SELECT name FROM osimage")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((files, names))
}

/// Whether an image or a tag refers to `file`.
fn file_in_use(store: &Store, file: &str) -> Result<bool, Error> {
    Ok(store
        .tx
        .prepare_cached(
            "SELECT 1 FROM osimage WHERE ?1 IN (kernelfile, initrdfile, imagefile)
             UNION ALL SELECT 1 FROM osimagetag WHERE ?1 IN (kernelfile, initrdfile, imagefile) LIMIT 1",
        )?
        .query_row([file], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Records an image's state for `/monitor/osimage` (`kind` `osimage`) or
/// `/monitor/sync` (`kind` `sync`).
pub fn set_state(
    store: &Store,
    kind: &str,
    name: &str,
    status: &str,
    state: &str,
) -> Result<(), Error> {
    store.tx.execute(
        "INSERT INTO imagestate (kind, name, status, state) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(kind, name) DO UPDATE SET status = excluded.status, state = excluded.state,
             updated = datetime('now')",
        params![kind, name, status, state],
    )?;
    Ok(())
}

/// Sync states (`/monitor/sync`), derived from the images as the spec says:
/// an image whose packed file is in `IMAGE_FILES` is `synced`, one without is
/// `unsynced`; a state recorded by image replication (`kind` `sync`) wins.
pub fn sync_states(store: &Store, name: Option<&str>) -> Result<Map<String, Value>, Error> {
    let recorded = states(store, "sync", name)?;
    let mut stmt = store.tx.prepare_cached(
        "SELECT name, imagefile FROM osimage WHERE (?1 IS NULL OR name = ?1) ORDER BY name",
    )?;
    let rows = stmt.query_map([name], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out = Map::new();
    for row in rows {
        let (image, file) = row?;
        let value = match recorded.get(&image) {
            Some(v) => v.clone(),
            None => {
                let present = file
                    .as_deref()
                    .is_some_and(|f| store.config.image_files.join(f).is_file());
                if present {
                    json!({ "status": "synced", "state": format!("{image} ok") })
                } else {
                    json!({ "status": "unsynced", "state": format!("{image} has no packed image file") })
                }
            }
        };
        out.insert(image, value);
    }
    Ok(out)
}

/// Image states of `kind`: all, or the one named.
pub fn states(store: &Store, kind: &str, name: Option<&str>) -> Result<Map<String, Value>, Error> {
    let mut stmt = store.tx.prepare_cached(
        "SELECT name, status, state FROM imagestate WHERE kind = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY name",
    )?;
    let rows = stmt.query_map(params![kind, name], |r| {
        Ok((
            r.get::<_, String>(0)?,
            json!({ "status": r.get::<_, String>(1)?, "state": r.get::<_, String>(2)? }),
        ))
    })?;
    let mut out = Map::new();
    for row in rows {
        let (n, v) = row?;
        out.insert(n, v);
    }
    Ok(out)
}

/// A node as grab and push reach it.
#[derive(Clone, Debug)]
pub struct Provisioned {
    pub node: String,
    /// The IP of its provisioning interface (the node's or group's setting,
    /// `BOOTIF` by default), if it has one.
    pub ip: Option<String>,
    /// The image it boots (its own or its group's).
    pub osimage: Option<String>,
}

/// How each of `nodes` is reached, in their order.
pub fn provisioning_addresses(store: &Store, nodes: &[String]) -> Result<Vec<Provisioned>, Error> {
    let names = Value::from(nodes.to_vec()).to_string();
    let mut found: std::collections::HashMap<String, (Option<String>, Option<String>)> = store
        .tx
        .prepare_cached(
            "SELECT n.name,
                    (SELECT a.ipaddress FROM nodeinterface ni JOIN ipaddress a ON a.nodeinterfaceid = ni.id
                      WHERE ni.nodeid = n.id
                        AND ni.interface = COALESCE(n.provision_interface, g.provision_interface, 'BOOTIF')
                        AND a.ipaddress IS NOT NULL LIMIT 1),
                    o.name
             FROM node n JOIN \"group\" g ON g.id = n.groupid
             LEFT JOIN osimage o ON o.id = COALESCE(n.osimageid, g.osimageid)
             WHERE n.name IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([names], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<Result<_, _>>()?;
    Ok(nodes
        .iter()
        .map(|n| {
            let (ip, osimage) = found.remove(n).unwrap_or((None, None));
            Provisioned {
                node: n.clone(),
                ip,
                osimage,
            }
        })
        .collect())
}

/// The nodes of group `group` (by name).
pub fn group_nodes(store: &Store, group: &str) -> Result<Vec<String>, Error> {
    let id = super::resource::lookup_id(store.tx, "group", group)?
        .ok_or_else(|| Error::not_found(format!("group '{group}' not found")))?;
    Ok(store
        .tx
        .prepare_cached("SELECT name FROM node WHERE groupid = ?1 ORDER BY name")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}
