//! The closed set of MCP method names, as a bounded label set for metrics and routing.
//!
//! Not here: the unknown method's text (see `MessageInfo::unknown_method`), per-method validation.
//! Allocation: none; `parse` is a `match` on the string.

/// Declares `Method`, its wire names and the label table from one list, so they cannot drift apart.
macro_rules! methods {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A known MCP method (every name in the 2024-11-05 … 2026-07-28 schemas plus the 2026 tasks
        /// extension), or [`Method::Other`]. `Other` carries no text on purpose: metric labels must
        /// come from a bounded set.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $($(#[$doc])* #[doc = concat!("`", $name, "`")] $variant,)*
            /// Any method name not listed above.
            Other,
        }

        impl Method {
            /// Every label, indexed by [`Method::index`]; `"other"` is last. Indices are stable
            /// within a build (append new methods before `Other` to keep dashboards readable).
            pub const ALL: &'static [&'static str] = &[$($name,)* "other"];

            /// Every variant, in [`Method::ALL`] order.
            pub const VARIANTS: &'static [Method] = &[$(Method::$variant,)* Method::Other];

            /// The wire name, or `"other"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                    Method::Other => "other",
                }
            }

            /// Maps a wire name to its variant; unknown names (and `"other"`) give [`Method::Other`].
            pub fn parse(name: &str) -> Method {
                match name {
                    $($name => Method::$variant,)*
                    _ => Method::Other,
                }
            }
        }
    };
}

methods! {
    Initialize => "initialize",
    Ping => "ping",
    ToolsList => "tools/list",
    ToolsCall => "tools/call",
    ResourcesList => "resources/list",
    ResourcesRead => "resources/read",
    ResourcesTemplatesList => "resources/templates/list",
    ResourcesSubscribe => "resources/subscribe",
    ResourcesUnsubscribe => "resources/unsubscribe",
    PromptsList => "prompts/list",
    PromptsGet => "prompts/get",
    CompletionComplete => "completion/complete",
    LoggingSetLevel => "logging/setLevel",
    SamplingCreateMessage => "sampling/createMessage",
    ElicitationCreate => "elicitation/create",
    RootsList => "roots/list",
    TasksGet => "tasks/get",
    TasksResult => "tasks/result",
    TasksList => "tasks/list",
    TasksCancel => "tasks/cancel",
    /// (2026 tasks extension)
    TasksUpdate => "tasks/update",
    ServerDiscover => "server/discover",
    SubscriptionsListen => "subscriptions/listen",
    NotificationsInitialized => "notifications/initialized",
    NotificationsCancelled => "notifications/cancelled",
    NotificationsProgress => "notifications/progress",
    NotificationsMessage => "notifications/message",
    NotificationsResourcesUpdated => "notifications/resources/updated",
    NotificationsResourcesListChanged => "notifications/resources/list_changed",
    NotificationsToolsListChanged => "notifications/tools/list_changed",
    NotificationsPromptsListChanged => "notifications/prompts/list_changed",
    NotificationsRootsListChanged => "notifications/roots/list_changed",
    NotificationsElicitationComplete => "notifications/elicitation/complete",
    NotificationsTasksStatus => "notifications/tasks/status",
    NotificationsSubscriptionsAcknowledged => "notifications/subscriptions/acknowledged",
}

impl Method {
    /// Position in [`Method::ALL`] (declaration order), for fixed-size per-method counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for the `notifications/*` names, which are never answered.
    pub fn is_notification(self) -> bool {
        self.as_str().starts_with("notifications/")
    }

    /// True for the methods whose `params.name` (or `params.uri`) the 2026-07-28 `Mcp-Name` header
    /// mirrors: `tools/call`, `prompts/get`, `resources/read`.
    pub fn has_mcp_name(self) -> bool {
        matches!(
            self,
            Self::ToolsCall | Self::PromptsGet | Self::ResourcesRead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_variants_line_up() {
        assert_eq!(Method::ALL.len(), Method::VARIANTS.len());
        for (index, &method) in Method::VARIANTS.iter().enumerate() {
            assert_eq!(method.index(), index);
            assert_eq!(Method::ALL[method.index()], method.as_str());
        }
        assert_eq!(Method::ALL.last(), Some(&"other"));
        assert_eq!(Method::Other.index(), Method::ALL.len() - 1);
    }

    #[test]
    fn parse_round_trips_every_known_name() {
        for &method in Method::VARIANTS {
            assert_eq!(Method::parse(method.as_str()), method);
        }
    }

    #[test]
    fn labels_are_unique() {
        let mut labels = Method::ALL.to_vec();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Method::ALL.len());
    }

    #[test]
    fn unknown_and_near_miss_names_are_other() {
        for name in [
            "",
            "tools/Call",
            "tools/call ",
            "TOOLS/LIST",
            "rpc.discover",
            "notifications/custom",
        ] {
            assert_eq!(Method::parse(name), Method::Other, "{name:?}");
        }
    }

    #[test]
    fn notification_classification() {
        assert!(Method::NotificationsCancelled.is_notification());
        assert!(Method::NotificationsSubscriptionsAcknowledged.is_notification());
        assert!(!Method::ToolsCall.is_notification());
        assert!(!Method::Other.is_notification());
        let notifications = Method::VARIANTS
            .iter()
            .filter(|m| m.is_notification())
            .count();
        assert_eq!(notifications, 12);
    }

    #[test]
    fn mcp_name_methods() {
        let with_name: Vec<_> = Method::VARIANTS
            .iter()
            .filter(|m| m.has_mcp_name())
            .collect();
        assert_eq!(
            with_name,
            [
                &Method::ToolsCall,
                &Method::ResourcesRead,
                &Method::PromptsGet
            ]
        );
    }
}
