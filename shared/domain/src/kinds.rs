//! The kinds this server serves and what it knows about each: names for
//! discovery, scope, the contexts it is served in, printer columns and the
//! fields a field selector may name.

pub const RESOURCEMANAGER_GROUP: &str = "resourcemanager.miloapis.com";
pub const V1ALPHA1: &str = "v1alpha1";
/// Label that ties folders and projects to their organization (Milo's).
pub const ORGANIZATION_LABEL: &str = "resourcemanager.miloapis.com/organization-name";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Namespaced,
}

/// Which control planes serve a kind (Milo's `parent-contexts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    Platform,
    Organization,
    Project,
}

/// A printer column of Table responses (a CRD's additionalPrinterColumns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer`, `date`, ...
    pub type_: &'static str,
    /// JSONPath relative to the object, as in a CRD.
    pub json_path: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub scope: Scope,
    pub contexts: &'static [ContextKind],
    /// Longest name allowed (Milo: organizations 50, projects 55).
    pub max_name_length: usize,
    pub columns: &'static [Column],
    /// Fields a field selector may name besides `metadata.name` and
    /// `metadata.namespace`.
    pub selectable_fields: &'static [&'static str],
}

impl KindInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn served_in(&self, context: ContextKind) -> bool {
        self.contexts.contains(&context)
    }

    pub fn is_selectable(&self, field: &str) -> bool {
        matches!(field, "metadata.name" | "metadata.namespace")
            || self.selectable_fields.contains(&field)
    }
}

const READY: Column = Column {
    name: "Ready",
    type_: "string",
    json_path: ".status.conditions[?(@.type=='Ready')].status",
    description: "Whether the object is ready for use",
};
const AGE: Column = Column {
    name: "Age",
    type_: "date",
    json_path: ".metadata.creationTimestamp",
    description: "Time since creation",
};

pub const ORGANIZATION: KindInfo = KindInfo {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Organization",
    list_kind: "OrganizationList",
    plural: "organizations",
    singular: "organization",
    short_names: &["org"],
    categories: &["datum"],
    scope: Scope::Cluster,
    contexts: &[ContextKind::Platform],
    max_name_length: 50,
    columns: &[
        Column {
            name: "Display Name",
            type_: "string",
            json_path: ".metadata.annotations.kubernetes\\.io/display-name",
            description: "Human-readable name",
        },
        Column {
            name: "Type",
            type_: "string",
            json_path: ".spec.type",
            description: "Personal or Standard",
        },
        READY,
        AGE,
    ],
    selectable_fields: &["spec.type"],
};

pub const FOLDER: KindInfo = KindInfo {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Folder",
    list_kind: "FolderList",
    plural: "folders",
    singular: "folder",
    short_names: &["fld"],
    categories: &["datum"],
    scope: Scope::Cluster,
    contexts: &[ContextKind::Platform, ContextKind::Organization],
    max_name_length: 63,
    columns: &[
        Column {
            name: "Parent Kind",
            type_: "string",
            json_path: ".spec.parentRef.kind",
            description: "Kind of the parent",
        },
        Column {
            name: "Parent",
            type_: "string",
            json_path: ".spec.parentRef.name",
            description: "Parent name",
        },
        READY,
        AGE,
    ],
    selectable_fields: &["spec.parentRef.name", "spec.parentRef.kind"],
};

pub const PROJECT: KindInfo = KindInfo {
    group: RESOURCEMANAGER_GROUP,
    version: V1ALPHA1,
    kind: "Project",
    list_kind: "ProjectList",
    plural: "projects",
    singular: "project",
    short_names: &["proj"],
    categories: &["datum"],
    scope: Scope::Cluster,
    contexts: &[ContextKind::Platform, ContextKind::Organization],
    max_name_length: 55,
    columns: &[
        Column {
            name: "Owner Kind",
            type_: "string",
            json_path: ".spec.ownerRef.kind",
            description: "Kind of the owner",
        },
        Column {
            name: "Owner",
            type_: "string",
            json_path: ".spec.ownerRef.name",
            description: "Owner name",
        },
        READY,
        AGE,
    ],
    selectable_fields: &["spec.ownerRef.name", "spec.ownerRef.kind"],
};

/// Every kind, in discovery order.
pub const ALL: &[&KindInfo] = &[&ORGANIZATION, &FOLDER, &PROJECT];

/// The kinds served in a context.
pub fn served_in(context: ContextKind) -> impl Iterator<Item = &'static KindInfo> {
    ALL.iter().copied().filter(move |k| k.served_in(context))
}

/// The kind behind `/apis/{group}/{version}/{plural}` in a context.
pub fn by_resource(
    context: ContextKind,
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static KindInfo> {
    served_in(context).find(|k| k.group == group && k.version == version && k.plural == plural)
}

pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    ALL.iter().copied().find(|k| k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_context_serves_folders_and_projects_only() {
        let plurals: Vec<_> = served_in(ContextKind::Organization)
            .map(|k| k.plural)
            .collect();
        assert_eq!(plurals, ["folders", "projects"]);
        assert!(by_resource(
            ContextKind::Organization,
            RESOURCEMANAGER_GROUP,
            V1ALPHA1,
            "organizations"
        )
        .is_none());
        assert!(by_resource(
            ContextKind::Platform,
            RESOURCEMANAGER_GROUP,
            V1ALPHA1,
            "organizations"
        )
        .is_some());
    }

    #[test]
    fn selectable_fields_include_metadata_and_kind_fields() {
        assert!(PROJECT.is_selectable("metadata.name"));
        assert!(PROJECT.is_selectable("spec.ownerRef.name"));
        assert!(!PROJECT.is_selectable("spec.type"));
        assert!(ORGANIZATION.is_selectable("spec.type"));
    }
}
