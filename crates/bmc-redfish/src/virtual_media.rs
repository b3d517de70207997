//! Virtual media: find a CD/DVD slot on the System or the Manager (quirk-ordered), insert an
//! image (InsertMedia action, PATCH fallback, the 400-ladder of docs/bmc.md#virtual-media), eject,
//! and read back the inserted state.

use reqwest::Method;
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use crate::client::RedfishClient;
use crate::error::{RedfishError, Result};
use crate::json::{bool_at, link, str_array, string_at};
use crate::quirks::VmediaLocation;

/// One VirtualMedia resource.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VirtualMediaSlot {
    pub odata_id: String,
    pub id: Option<String>,
    pub media_types: Vec<String>,
    pub inserted: Option<bool>,
    pub image: Option<String>,
    pub image_name: Option<String>,
    pub write_protected: Option<bool>,
    pub connected_via: Option<String>,
    /// `Actions/#VirtualMedia.InsertMedia/target`.
    pub insert_target: Option<String>,
    /// `Actions/#VirtualMedia.EjectMedia/target`.
    pub eject_target: Option<String>,
}

impl VirtualMediaSlot {
    /// Parse a VirtualMedia document.
    pub fn from_json(odata_id: &str, v: &Value) -> Self {
        Self {
            odata_id: odata_id.to_owned(),
            id: string_at(v, "/Id"),
            media_types: str_array(v, "/MediaTypes").unwrap_or_default(),
            inserted: bool_at(v, "/Inserted"),
            image: string_at(v, "/Image").filter(|s| !s.is_empty()),
            image_name: string_at(v, "/ImageName").filter(|s| !s.is_empty()),
            write_protected: bool_at(v, "/WriteProtected"),
            connected_via: string_at(v, "/ConnectedVia"),
            insert_target: string_at(v, "/Actions/#VirtualMedia.InsertMedia/target"),
            eject_target: string_at(v, "/Actions/#VirtualMedia.EjectMedia/target"),
        }
    }

    /// Slot takes CD images (CD, or DVD — DVD-only slots accept ISO images too).
    pub fn is_cd(&self) -> bool {
        self.media_types.iter().any(|t| t == "CD" || t == "DVD")
    }

    /// Something is mounted. `NotConnected` slots count as empty (Supermicro leaves stale names).
    pub fn has_media(&self) -> bool {
        if self.connected_via.as_deref() == Some("NotConnected") {
            return false;
        }
        self.inserted == Some(true)
    }
}

/// Image URL for logs: drop any `user:password@` part.
fn loggable(image: &str) -> String {
    match url::Url::parse(image) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => image.to_owned(),
    }
}

fn transfer_protocol(image: &str) -> &'static str {
    if image.to_ascii_lowercase().starts_with("https:") {
        "HTTPS"
    } else {
        "HTTP"
    }
}

impl RedfishClient {
    /// VirtualMedia collection links in quirk order, de-duplicated (sushy's Manager links the
    /// System's collection).
    async fn vmedia_collections(&self) -> Result<Vec<String>> {
        let sys = self.system().await?;
        let mgr = match &self.topology.manager {
            Some(m) => self
                .get(m)
                .await
                .ok()
                .and_then(|r| link(&r.body, "VirtualMedia")),
            None => None,
        };
        let mut order = match self.quirks.vmedia_location {
            VmediaLocation::SystemsFirst => vec![sys.virtual_media, mgr],
            VmediaLocation::ManagersFirst => vec![mgr, sys.virtual_media],
        };
        let mut out: Vec<String> = Vec::new();
        for c in order.drain(..).flatten() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// CD/DVD-capable slots from the first location that has any.
    pub async fn cd_slots(&self) -> Result<Vec<VirtualMediaSlot>> {
        for coll in self.vmedia_collections().await? {
            let mut slots = Vec::new();
            for m in self.members(&coll).await? {
                let doc = self.get(&m).await?.body;
                let slot = VirtualMediaSlot::from_json(&m, &doc);
                if slot.is_cd() {
                    slots.push(slot);
                }
            }
            if !slots.is_empty() {
                // Prefer slots that say CD over DVD-only ones.
                slots.sort_by_key(|s| !s.media_types.iter().any(|t| t == "CD"));
                return Ok(slots);
            }
        }
        Err(RedfishError::NotFound {
            what: "virtual media slot with MediaTypes CD or DVD".into(),
            url: self.url_for(&self.topology.system)?.to_string(),
        })
    }

    /// The first CD slot as currently read (for status / read-back).
    pub async fn cd_media_status(&self) -> Result<VirtualMediaSlot> {
        self.cd_slots()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| RedfishError::NotFound {
                what: "virtual CD slot".into(),
                url: self.topology.system.clone(),
            })
    }

    async fn read_slot(&self, path: &str) -> Result<VirtualMediaSlot> {
        Ok(VirtualMediaSlot::from_json(
            path,
            &self.get(path).await?.body,
        ))
    }

    async fn eject_slot(&self, slot: &VirtualMediaSlot) -> Result<()> {
        match &slot.eject_target {
            Some(target) => {
                let first = if self.quirks.eject_needs_empty_body {
                    Some(json!({}))
                } else {
                    None
                };
                match self
                    .request(Method::POST, target, first.as_ref(), None)
                    .await
                {
                    Err(RedfishError::Http { status, .. })
                        if (status == 400 || status == 415) && first.is_none() =>
                    {
                        // iLO-style: wants an empty JSON object.
                        self.request(Method::POST, target, Some(&json!({})), None)
                            .await?;
                    }
                    other => {
                        other?;
                    }
                }
            }
            None => {
                self.patch(&slot.odata_id, &json!({"Image": null, "Inserted": false}))
                    .await?;
            }
        }
        info!(slot = %slot.odata_id, "virtual media ejected");
        Ok(())
    }

    /// Eject every CD slot that has media; verify by read-back.
    ///
    /// A slot that reads back empty is sent `EjectMedia` too, and its refusal is not an error: a BMC
    /// may accept an insert and never show it (the reinstall's clean-up after "not mounted" must
    /// still take out what it inserted), and ejecting an empty slot is harmless.
    pub async fn eject_media(&self) -> Result<()> {
        for slot in self.cd_slots().await? {
            if !slot.has_media() && slot.image.is_none() {
                if let Err(e) = self.eject_slot(&slot).await {
                    debug!(slot = %slot.odata_id, error = %e, "eject of a slot that reads empty refused");
                }
                continue;
            }
            self.eject_slot(&slot).await?;
            let back = self.read_slot(&slot.odata_id).await?;
            if back.has_media() {
                return Err(self.not_applied(format!(
                    "{} still reports Inserted after EjectMedia",
                    slot.odata_id
                )));
            }
        }
        Ok(())
    }

    async fn insert_into(
        &self,
        slot: &VirtualMediaSlot,
        image: &str,
        write_protected: bool,
    ) -> Result<()> {
        let Some(target) = &slot.insert_target else {
            // No action (e.g. Lenovo SD530): PATCH the resource itself.
            return self
                .patch(
                    &slot.odata_id,
                    &json!({"Image": image, "Inserted": true, "WriteProtected": write_protected}),
                )
                .await
                .map(|_| ());
        };
        let mut bodies = Vec::new();
        if self.quirks.insert_media_image_only {
            bodies.push(json!({"Image": image}));
        } else {
            bodies
                .push(json!({"Image": image, "Inserted": true, "WriteProtected": write_protected}));
        }
        // The 400-ladder: some BMCs insist on TransferProtocolType, then TransferMethod.
        bodies.push(json!({"Image": image, "TransferProtocolType": transfer_protocol(image)}));
        bodies.push(
            json!({"Image": image, "TransferProtocolType": transfer_protocol(image),
                           "TransferMethod": "Stream"}),
        );
        let mut last = None;
        for body in &bodies {
            match self.post(target, body).await {
                Ok(_) => return Ok(()),
                Err(e @ RedfishError::Http { status: 400, .. }) => {
                    warn!(slot = %slot.odata_id, error = %e, "InsertMedia rejected; trying next body shape");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.not_applied("InsertMedia rejected".into())))
    }

    /// Insert `image` (an http(s) URL reachable by the BMC) into the first CD slot that takes
    /// it, ejecting stale media first; verified by read-back. Returns the slot as read back.
    pub async fn insert_media(
        &self,
        image: &str,
        write_protected: bool,
    ) -> Result<VirtualMediaSlot> {
        let slots = self.cd_slots().await?;
        let mut last_err = None;
        for slot in &slots {
            if slot.has_media() || slot.image.is_some() {
                self.eject_slot(slot).await?;
            }
            match self.insert_into(slot, image, write_protected).await {
                Ok(()) => {
                    let back = self.read_slot(&slot.odata_id).await?;
                    if back.inserted != Some(false) && back.image.as_deref() == Some(image) {
                        info!(slot = %slot.odata_id, image = %loggable(image), "virtual media inserted");
                        return Ok(back);
                    }
                    last_err = Some(self.not_applied(format!(
                        "{} reads back Inserted={:?} Image={:?} after InsertMedia of {}",
                        slot.odata_id,
                        back.inserted,
                        back.image.as_deref().map(loggable),
                        loggable(image)
                    )));
                }
                // Reserved / DVD-only slots answer 400: move on to the next slot.
                Err(e @ RedfishError::Http { status: 400, .. }) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| RedfishError::NotFound {
            what: "usable virtual CD slot".into(),
            url: self.topology.system.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sushy_cd_slot() {
        let v = json!({
            "Id": "Cd", "MediaTypes": ["CD", "DVD"], "Image": "", "ImageName": "", "ConnectedVia": "URI",
            "Inserted": false, "WriteProtected": false,
            "Actions": {"#VirtualMedia.EjectMedia": {"target": "/x/Eject"},
                        "#VirtualMedia.InsertMedia": {"target": "/x/Insert"}}
        });
        let s = VirtualMediaSlot::from_json("/x", &v);
        assert!(s.is_cd());
        assert!(!s.has_media());
        assert_eq!(s.image, None);
        assert_eq!(s.insert_target.as_deref(), Some("/x/Insert"));
        assert_eq!(s.eject_target.as_deref(), Some("/x/Eject"));
    }

    #[test]
    fn not_connected_counts_as_empty() {
        let s = VirtualMediaSlot::from_json(
            "/y",
            &json!({"MediaTypes": ["DVD"], "Inserted": true, "ConnectedVia": "NotConnected", "ImageName": "old.iso"}),
        );
        assert!(s.is_cd());
        assert!(!s.has_media());
        let floppy =
            VirtualMediaSlot::from_json("/f", &json!({"MediaTypes": ["Floppy", "USBStick"]}));
        assert!(!floppy.is_cd());
    }

    #[test]
    fn image_credentials_not_logged() {
        assert_eq!(loggable("http://u:secret@h/x.iso"), "http://h/x.iso");
        assert_eq!(loggable("http://h/x.iso"), "http://h/x.iso");
        assert_eq!(loggable("not a url"), "not a url");
    }

    #[test]
    fn protocol_from_url() {
        assert_eq!(transfer_protocol("HTTPS://a/b.iso"), "HTTPS");
        assert_eq!(transfer_protocol("http://a/b.iso"), "HTTP");
    }
}
