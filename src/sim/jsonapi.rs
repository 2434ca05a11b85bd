//! The JSON:API side of a simulated request: its parsed query (the last
//! value of a parameter, comma lists, enums, parameters a route does not
//! take), `limit` and opaque-cursor paging with `links` and `meta.paging`,
//! and the origin links point at. Every failure is an Apple-style
//! `ErrorResponse` ([`ApiError`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};

use super::control::SimControl;
use super::data::{self, Account};
use super::fixtures;
use super::response::ApiError;
use crate::asc::api::MAX_PAGE;
use crate::asc::model::{PagedDocumentLinks, Paging, PagingInformation};

/// The parsed request: origin for links, path, query pairs.
pub(super) struct Ctx<'a> {
    pub(super) base: String,
    pub(super) path: &'a str,
    pub(super) query: Vec<(String, String)>,
    pub(super) account: Arc<Account>,
    pub(super) control: &'a SimControl,
}

impl Ctx<'_> {
    pub(super) fn fixtures(&self) -> &[fixtures::Fixture] {
        &self.control.config().fixtures
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The last value of a parameter.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list parameter.
    pub(super) fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rejects parameters the route does not take (`fields[...]` is accepted).
    pub(super) fn allow(&self, names: &[&str]) -> Result<(), ApiError> {
        for (k, _) in &self.query {
            let sparse_fields = k.starts_with("fields[") && k.ends_with(']');
            if !(names.contains(&k.as_str()) || sparse_fields) {
                return Err(ApiError::illegal(k));
            }
        }
        Ok(())
    }

    pub(super) fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default.clamp(1, MAX_PAGE)),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
                Ok(n) if n > MAX_PAGE => Err(ApiError::invalid(
                    "limit",
                    format!(
                        "The parameter 'limit' exceeds the maximum allowed value of {MAX_PAGE}"
                    ),
                )),
                _ => Err(ApiError::invalid(
                    "limit",
                    format!("The parameter 'limit' must be an integer between 1 and {MAX_PAGE}"),
                )),
            },
        }
    }

    pub(super) fn check_enum(&self, name: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let values = self.list(name);
        for v in &values {
            if !allowed.contains(&v.as_str()) {
                return Err(ApiError::invalid(
                    name,
                    format!(
                        "'{v}' is not a valid value for the parameter '{name}'; expected one of {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(values)
    }

    /// This URL with the given query pairs.
    pub(super) fn with_query(&self, pairs: &[(String, String)]) -> String {
        let mut s = self.url(self.path);
        if !pairs.is_empty() {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                ser.append_pair(k, v);
            }
            s.push('?');
            s.push_str(&ser.finish());
        }
        s
    }

    /// One page of `items`: (page, links, meta). The cursor is opaque to clients.
    pub(super) fn page<T>(
        &self,
        items: Vec<T>,
        default: usize,
    ) -> Result<(Vec<T>, PagedDocumentLinks, PagingInformation), ApiError> {
        let limit = self.limit(default)?;
        let offset = match self.get("cursor") {
            None => 0,
            Some(c) => decode_cursor(c)
                .filter(|o| *o <= items.len())
                .ok_or_else(|| ApiError::invalid("cursor", "The cursor is not valid"))?,
        };
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
        let next_offset = offset + page.len();
        let next_cursor = (next_offset < total).then(|| encode_cursor(next_offset));
        let rest: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .cloned()
            .collect();
        let next = next_cursor.as_ref().map(|c| {
            let mut pairs = vec![("cursor".to_string(), c.clone())];
            pairs.extend(rest.iter().cloned());
            self.with_query(&pairs)
        });
        let links = PagedDocumentLinks {
            self_: self.with_query(&self.query),
            first: None,
            next,
        };
        let meta = PagingInformation {
            paging: Paging {
                total: Some(total as i64),
                limit: limit as i64,
                next_cursor,
            },
        };
        Ok((page, links, meta))
    }
}

fn encode_cursor(offset: usize) -> String {
    let check = data::mix(&[offset as u64, 0xC0FFEE]) & 0xffff;
    format!("AQ.{offset:x}.{check:04x}")
}

fn decode_cursor(c: &str) -> Option<usize> {
    let rest = c.strip_prefix("AQ.")?;
    let (o, check) = rest.split_once('.')?;
    let offset = usize::from_str_radix(o, 16).ok()?;
    (encode_cursor(offset) == c && check.len() == 4).then_some(offset)
}

/// The origin used in links: the request's Host header (so that clients
/// stay on the origin they called), else the bound address.
pub(super) fn origin(headers: &HeaderMap, addr: SocketAddr) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        });
    match host {
        Some(h) => format!("http://{h}"),
        None => format!("http://{addr}"),
    }
}
