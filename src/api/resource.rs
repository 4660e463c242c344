//! The generic handlers of name-keyed resources: each verb reads the name from
//! the URL and the object from the body, calls the model
//! (`cmdb::resource`), and turns the outcome into a reply.

use serde_json::json;

use super::{ApiError, Ctx, Reply};
use crate::cmdb::resource::{self as model, Posted, Resource};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    List,
    Show,
    Post,
    Clone,
    Delete,
    Member,
}

pub fn run(res: &'static Resource, verb: Verb, ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let name = ctx.param(0).to_string();
    match verb {
        Verb::List => Ok(Reply::Raw(200, model::render(ctx, res, None)?)),
        Verb::Show => Ok(Reply::Raw(200, model::render(ctx, res, Some(&name))?)),
        Verb::Post => {
            let obj = ctx.config_object(res.kind, &name)?.clone();
            match model::post(ctx, res, &name, &obj)? {
                Posted::Created => {
                    Reply::created(format!("{} {name} created successfully", res.label))
                }
                Posted::Updated => Reply::updated(),
            }
        }
        Verb::Clone => {
            let obj = ctx.config_object(res.kind, &name)?.clone();
            let copy = model::clone(ctx, res, &name, &obj)?;
            Reply::created(format!("{} {copy} created successfully", res.label))
        }
        Verb::Delete => {
            model::delete(ctx, res, &name)?;
            Reply::updated()
        }
        Verb::Member => {
            let members = model::members(ctx, res, &name)?;
            Reply::ok(json!({ "config": { res.kind: { name: { "members": members } } } }))
        }
    }
}
