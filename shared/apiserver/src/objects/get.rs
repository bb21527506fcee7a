//! GET of one object.

use super::*;

impl Ops<'_> {
    pub(super) async fn get(&self, name: &str) -> Result<Response, ApiError> {
        let (_, stored, _) = self.load(name).await?;
        let doc = at_version(stored.object, self.kind);
        let doc = present(self.server, self.kind, doc, self.call).await?;
        if codec::wants_table(self.call.header("accept")) {
            let table = domain::table::table(
                self.kind,
                &[doc],
                self.call.request.time,
                serde_json::json!({}),
            );
            return Ok(Response::json(200, &table));
        }
        Ok(Response::json(200, &doc))
    }
}
