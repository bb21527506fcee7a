//! Parses a request path into the context it addresses and what it asks for.
//! Pure; unit-tested without a server.

use domain::kinds::{ContextKind, RESOURCEMANAGER_GROUP, V1ALPHA1};
use domain::metadata_rules::DNS1123_SUBDOMAIN_MAX_LENGTH;
use domain::{ApiError, Cause};
use store::Context;

/// What a path asks for, within its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version,
    /// `/api`
    CoreVersions,
    /// `/api/v1`
    CoreResources,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/apis/{group}/{version}`
    GroupResources {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    /// `/openapi/v2`: see `openapi::legacy_v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiRoot,
    /// `/openapi/v3/apis/{group}/{version}`
    OpenApiGroupVersion {
        group: String,
        version: String,
    },
}

impl Target {
    /// Whether the target is a discovery or OpenAPI document.
    pub fn is_discovery(&self) -> bool {
        !matches!(self, Target::Resource(_) | Target::Version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub fn context_kind(context: &Context) -> ContextKind {
    match context {
        Context::Platform => ContextKind::Platform,
        Context::Organization(_) => ContextKind::Organization,
        Context::Project(_) => ContextKind::Project,
    }
}

/// Splits `path` into its context (from a `.../control-plane` prefix) and target.
pub fn parse(path: &str) -> Result<(Context, Target), ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (context, rest) = split_context(&segments);
    let target = parse_target(rest).ok_or_else(|| {
        ApiError::path_not_found(format!(
            "the server could not find the requested resource ({path})"
        ))
    })?;
    Ok((context, target))
}

/// The group and collection of Milo's users, whose control planes are at
/// `/apis/iam.miloapis.com/v1alpha1/users/{user}/control-plane`.
pub const IAM_GROUP: &str = "iam.miloapis.com";

/// A path under a user's control plane: the user and what the path asks
/// for there; `None` for any other path. Users come with IAM (#20): until
/// then such a path is answered for discovery alone, filtered by the URL.
pub fn parse_user_plane(path: &str) -> Option<Result<(String, Target), ApiError>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let ["apis", IAM_GROUP, V1ALPHA1, "users", user, "control-plane", rest @ ..] =
        segments.as_slice()
    else {
        return None;
    };
    Some(
        parse_target(rest)
            .map(|t| (user.to_string(), t))
            .ok_or_else(|| {
                ApiError::path_not_found(format!(
                    "the server could not find the requested resource ({path})"
                ))
            }),
    )
}

/// The context a request is served in: its path's, except that an
/// organization's control plane sees the platform's `organization-{org}`
/// (the namespace and what is in it, the organization's memberships), as
/// Milo's control planes are views of one store.
pub fn served_context(context: Context, target: &Target) -> Context {
    let Context::Organization(org) = &context else {
        return context;
    };
    let Target::Resource(path) = target else {
        return context;
    };
    let own = format!("organization-{org}");
    let names_it = path.group.is_empty()
        && path.plural == "namespaces"
        && path.name.as_deref() == Some(own.as_str());
    match path.namespace.as_deref() == Some(own.as_str()) || names_it {
        true => Context::Platform,
        false => context,
    }
}

fn split_context<'a>(segments: &'a [&'a str]) -> (Context, &'a [&'a str]) {
    match segments {
        ["apis", group, version, collection, name, "control-plane", rest @ ..]
            if *group == RESOURCEMANAGER_GROUP && *version == V1ALPHA1 =>
        {
            match *collection {
                "organizations" => (Context::Organization(name.to_string()), rest),
                "projects" => (Context::Project(name.to_string()), rest),
                _ => (Context::Platform, segments),
            }
        }
        _ => (Context::Platform, segments),
    }
}

fn parse_target(segments: &[&str]) -> Option<Target> {
    let target = match segments {
        ["version"] => Target::Version,
        ["openapi", "v2"] => Target::OpenApiV2,
        ["openapi", "v3"] => Target::OpenApiRoot,
        ["openapi", "v3", "api", "v1"] => Target::OpenApiGroupVersion {
            group: String::new(),
            version: "v1".into(),
        },
        ["openapi", "v3", "apis", group, version] => Target::OpenApiGroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api"] => Target::CoreVersions,
        ["api", "v1"] => Target::CoreResources,
        ["api", "v1", rest @ ..] => Target::Resource(resource("", "v1", rest)?),
        ["apis"] => Target::Groups,
        ["apis", group] => Target::Group(group.to_string()),
        ["apis", group, version] => Target::GroupResources {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["apis", group, version, rest @ ..] => Target::Resource(resource(group, version, rest)?),
        _ => return None,
    };
    Some(target)
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Option<ResourcePath> {
    let (namespace, rest) = match rest {
        // `/api/v1/namespaces/{name}/status`: a namespace's own subresource.
        ["namespaces", _, "status" | "finalize"] => (None, rest.to_vec()),
        ["namespaces", ns, plural, tail @ ..] => (Some(ns.to_string()), prepend(plural, tail)),
        _ => (None, rest.to_vec()),
    };
    let (plural, name, subresource) = match rest.as_slice() {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        plural: plural.to_string(),
        namespace,
        name,
        subresource,
    })
}

/// A name no object can have: longer than a DNS-1123 subdomain, the longest
/// name any kind takes. Such a name would also make keys DynamoDB refuses
/// (a sort key holds at most 1024 bytes), so it is answered here, before
/// any key is built.
fn overlong(name: &str) -> bool {
    name.len() > DNS1123_SUBDOMAIN_MAX_LENGTH
}

/// A name as a message shows it: an overlong one cut short.
fn shown(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((end, _)) => format!("{}… ({} bytes)", &name[..end], name.len()),
        None => name.to_string(),
    }
}

/// Refuses a path naming an organization, project, namespace or object
/// that cannot exist: 404 where it is read, or where a create would go
/// into it; 422 for a write addressed to the object itself.
pub fn check_names(context: &Context, target: &Target, writes: bool) -> Result<(), ApiError> {
    match context {
        Context::Organization(org) if overlong(org) => {
            return Err(ApiError::not_found(
                RESOURCEMANAGER_GROUP,
                "organizations",
                &shown(org),
            ))
        }
        Context::Project(project) if overlong(project) => {
            return Err(ApiError::not_found(
                RESOURCEMANAGER_GROUP,
                "projects",
                &shown(project),
            ))
        }
        _ => {}
    }
    let Target::Resource(path) = target else {
        return Ok(());
    };
    if let Some(namespace) = path.namespace.as_deref().filter(|ns| overlong(ns)) {
        return Err(ApiError::not_found("", "namespaces", &shown(namespace)));
    }
    match path.name.as_deref().filter(|name| overlong(name)) {
        None => Ok(()),
        Some(name) if writes => Err(ApiError::invalid(
            &path.group,
            &path.plural,
            &shown(name),
            vec![Cause::invalid(
                "metadata.name",
                format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"),
            )],
        )),
        Some(name) => Err(ApiError::not_found(&path.group, &path.plural, &shown(name))),
    }
}

fn prepend<'a>(first: &'a str, tail: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![first];
    all.extend_from_slice(tail);
    all
}

/// The path of one object (`subresource`: `status`, or none) as a
/// client addresses it in `context`: what the gc function asks the API
/// for (the inverse of [`parse`]).
pub fn object_path(
    context: &Context,
    kind: &domain::kinds::KindInfo,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
) -> String {
    let sub = subresource.map(|s| format!("/{s}")).unwrap_or_default();
    format!("{}/{name}{sub}", collection_path(context, kind, namespace))
}

/// The path of a kind's objects in a namespace (`""`: a cluster-scoped
/// kind's, or every namespace's) of a context.
pub fn collection_path(
    context: &Context,
    kind: &domain::kinds::KindInfo,
    namespace: &str,
) -> String {
    let prefix = match context {
        Context::Platform => String::new(),
        Context::Organization(org) => {
            format!("/apis/{RESOURCEMANAGER_GROUP}/{V1ALPHA1}/organizations/{org}/control-plane")
        }
        Context::Project(project) => {
            format!("/apis/{RESOURCEMANAGER_GROUP}/{V1ALPHA1}/projects/{project}/control-plane")
        }
    };
    let group_version = match kind.group.as_str() {
        "" => format!("/api/{}", kind.version),
        group => format!("/apis/{group}/{}", kind.version),
    };
    let namespace = match namespace {
        "" => String::new(),
        ns => format!("/namespaces/{ns}"),
    };
    format!("{prefix}{group_version}{namespace}/{}", kind.plural)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG_PREFIX: &str =
        "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";

    #[test]
    fn platform_paths() {
        assert_eq!(parse("/apis").unwrap(), (Context::Platform, Target::Groups));
        let (_, t) =
            parse("/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme").unwrap();
        let Target::Resource(r) = t else {
            panic!("not a resource")
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("organizations", Some("acme"))
        );
    }

    #[test]
    fn organization_context_prefix_is_split_off() {
        let (ctx, t) = parse(&format!(
            "{ORG_PREFIX}/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/status"
        ))
        .unwrap();
        assert_eq!(ctx, Context::Organization("acme".into()));
        let Target::Resource(r) = t else {
            panic!("not a resource")
        };
        assert_eq!(r.name.as_deref(), Some("p1"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        assert_eq!(
            parse(&format!("{ORG_PREFIX}/api")).unwrap().1,
            Target::CoreVersions
        );
    }

    #[test]
    fn an_organizations_plane_sees_its_own_platform_namespace_and_nothing_else_of_it() {
        let served = |path: &str| {
            let (context, target) = parse(&format!("{ORG_PREFIX}{path}")).unwrap();
            served_context(context, &target)
        };
        let memberships = "/apis/resourcemanager.miloapis.com/v1alpha1/namespaces/organization-acme/organizationmemberships";
        assert_eq!(served(memberships), Context::Platform);
        assert_eq!(
            served("/api/v1/namespaces/organization-acme"),
            Context::Platform
        );
        let acme = Context::Organization("acme".into());
        assert_eq!(
            served("/api/v1/namespaces/organization-other/configmaps"),
            acme
        );
        assert_eq!(served("/api/v1/namespaces/default/configmaps"), acme);
        assert_eq!(served("/api/v1/namespaces"), acme);
        let (platform, target) = parse(memberships).unwrap();
        assert_eq!(served_context(platform, &target), Context::Platform);
    }

    #[test]
    fn namespaced_paths() {
        let (_, t) = parse("/api/v1/namespaces/default/configmaps/x").unwrap();
        let Target::Resource(r) = t else {
            panic!("not a resource")
        };
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.plural, "configmaps");
    }

    #[test]
    fn a_namespace_status_is_not_a_namespaced_collection() {
        let (_, t) = parse("/api/v1/namespaces/default/status").unwrap();
        let Target::Resource(r) = t else {
            panic!("not a resource")
        };
        assert_eq!(r.namespace, None);
        assert_eq!(
            (
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("default"), Some("status"))
        );
    }

    #[test]
    fn names_no_object_can_have_are_refused() {
        let long = "a".repeat(DNS1123_SUBDOMAIN_MAX_LENGTH + 1);
        let code = |path: &str, writes: bool| {
            let (context, target) = parse(path).unwrap();
            check_names(&context, &target, writes).map_err(|e| e.code_and_reason().0)
        };
        let g = "/apis/resourcemanager.miloapis.com/v1alpha1";
        assert_eq!(code(&format!("{g}/organizations/{long}"), false), Err(404));
        assert_eq!(code(&format!("{g}/organizations/{long}"), true), Err(422));
        assert_eq!(
            code(
                &format!("{g}/projects/{long}/control-plane/api/v1/namespaces"),
                true
            ),
            Err(404)
        );
        assert_eq!(
            code(
                &format!("{g}/organizations/{long}/control-plane/api"),
                false
            ),
            Err(404)
        );
        assert_eq!(
            code(&format!("/api/v1/namespaces/{long}/configmaps"), true),
            Err(404)
        );
        let longest = "a".repeat(DNS1123_SUBDOMAIN_MAX_LENGTH);
        assert_eq!(code(&format!("{g}/folders/{longest}"), true), Ok(()));
        assert_eq!(
            code(
                &format!("/api/v1/namespaces/{longest}/configmaps/{longest}"),
                false
            ),
            Ok(())
        );
    }

    #[test]
    fn a_user_control_plane_is_split_off_and_nothing_else() {
        let prefix = "/apis/iam.miloapis.com/v1alpha1/users/alice/control-plane";
        assert_eq!(
            parse_user_plane(&format!(
                "{prefix}/apis/resourcemanager.miloapis.com/v1alpha1"
            ))
            .unwrap()
            .unwrap(),
            (
                "alice".to_string(),
                Target::GroupResources {
                    group: RESOURCEMANAGER_GROUP.into(),
                    version: V1ALPHA1.into()
                }
            )
        );
        assert_eq!(
            parse_user_plane(&format!("{prefix}/api"))
                .unwrap()
                .unwrap()
                .1,
            Target::CoreVersions
        );
        assert!(parse_user_plane(&format!("{prefix}/what/ever"))
            .unwrap()
            .is_err());
        assert!(parse_user_plane("/apis/iam.miloapis.com/v1alpha1/users/alice").is_none());
        assert!(parse_user_plane(&format!("{ORG_PREFIX}/apis")).is_none());
    }

    #[test]
    fn unknown_paths_are_404() {
        let err = parse("/healthz/extra").unwrap_err();
        assert_eq!(err.code_and_reason().0, 404);
        assert!(parse("/apis/g/v/a/b/c/d").is_err());
    }

    #[test]
    fn an_objects_path_parses_back_to_it() {
        let catalog = domain::catalog::Catalog::builtin().unwrap();
        let configmap = catalog.preferred("", "ConfigMap").unwrap();
        let project = catalog.preferred(RESOURCEMANAGER_GROUP, "Project").unwrap();
        let cases = [
            (
                Context::Project("p1".into()),
                configmap,
                "default",
                "held",
                Some("status"),
            ),
            (
                Context::Organization("o".into()),
                configmap,
                "ns",
                "c",
                None,
            ),
            (Context::Platform, project, "", "p1", None),
        ];
        for (context, kind, namespace, name, sub) in cases {
            let path = object_path(&context, kind, namespace, name, sub);
            let (parsed, Target::Resource(resource)) = parse(&path).unwrap() else {
                panic!("{path} is not a resource");
            };
            assert_eq!(parsed, context, "{path}");
            assert_eq!(resource.plural, kind.plural, "{path}");
            assert_eq!(
                resource.namespace.as_deref(),
                Some(namespace).filter(|n| !n.is_empty())
            );
            assert_eq!(resource.name.as_deref(), Some(name));
            assert_eq!(resource.subresource.as_deref(), sub);
        }
    }
}
