//! The registry's side of authentication: `WWW-Authenticate` challenges, token scopes and the
//! bearer-token flow with its cache.

pub(crate) mod challenge;
pub(crate) mod scope;
pub(crate) mod token;
