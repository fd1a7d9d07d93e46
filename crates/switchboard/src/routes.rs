//! A router that remembers the paths it mounts. The server is assembled from these, so
//! the isolation tests can walk every path the service really serves and fail when one
//! was added without saying who may use it.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// Routes under construction, with the paths mounted so far.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `method_router` at `path` (as [`Router::route`]).
    #[must_use]
    pub fn route(mut self, path: &'static str, method_router: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path);
        self
    }

    /// Adds another set of routes (as [`Router::merge`]).
    #[must_use]
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// Changes the router without mounting paths (layers).
    #[must_use]
    pub fn map(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    /// Every path mounted, in order.
    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    /// The router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
