//! Milo's OrganizationMembership (#20) against DynamoDB Local: its roles
//! become PolicyBindings in its own transaction (granted on the next
//! request), follow its updates and go with it; what it names must exist;
//! the last owner of an organization stays.

mod common;

use common::{api, token_for, Api, G};
use serde_json::{json, Value};

const IAM: &str = "/apis/iam.miloapis.com/v1alpha1";
const RM: &str = "/apis/resourcemanager.miloapis.com/v1alpha1";
const OWNER: &str = "resourcemanager.miloapis.com-organizationowner";

fn ns(org: &str) -> String {
    format!("organization-{org}")
}

async fn setup(api: &Api, org: &str, users: &[&str]) {
    api.org(org).await;
    for user in users {
        let r = api
            .post(
                &format!("{IAM}/users"),
                json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
                       "metadata": {"name": user}, "spec": {"email": format!("{user}@example.com"), "givenName": user}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let system = api
        .post(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "milo-system"}}),
        )
        .await;
    assert!(
        system.status == 201 || system.status == 409,
        "{}",
        system.body
    );
    for (name, namespace, permissions) in [
        (
            "viewer",
            ns(org),
            vec!["resourcemanager.miloapis.com/organizations.get"],
        ),
        (
            "editor",
            ns(org),
            vec![
                "resourcemanager.miloapis.com/organizations.update",
                "resourcemanager.miloapis.com/organizations.patch",
            ],
        ),
        (
            OWNER,
            "milo-system".to_string(),
            vec!["resourcemanager.miloapis.com/organizations.delete"],
        ),
    ] {
        let r = api
            .post(
                &format!("{IAM}/namespaces/{namespace}/roles"),
                json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                       "metadata": {"name": name, "namespace": namespace},
                       "spec": {"launchStage": "Beta", "includedPermissions": permissions}}),
            )
            .await;
        assert!(r.status == 201 || r.status == 409, "{}", r.body);
    }
}

fn membership(org: &str, name: &str, user: &str, roles: Value) -> Value {
    json!({"apiVersion": "resourcemanager.miloapis.com/v1alpha1", "kind": "OrganizationMembership",
           "metadata": {"name": name, "namespace": ns(org)},
           "spec": {"organizationRef": {"name": org}, "userRef": {"name": user}, "roles": roles}})
}

fn memberships(org: &str) -> String {
    format!("{RM}/namespaces/{}/organizationmemberships", ns(org))
}

fn bindings(org: &str) -> String {
    format!("{IAM}/namespaces/{}/policybindings", ns(org))
}

#[tokio::test]
async fn a_memberships_roles_are_granted_by_bindings_written_with_it() {
    let api = api().await;
    setup(&api, "acme", &["alice"]).await;
    let alice = token_for("alice", &[]);
    let org = format!("{G}/organizations/acme");
    assert_eq!(api.call_as(&alice, "GET", &org, None).await.status, 403);

    let r = api
        .post(
            &memberships("acme"),
            membership("acme", "alice", "alice", json!([{"name": "viewer"}])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = &r.body["status"];
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][1]["reason"], "AllRolesApplied");
    assert_eq!(status["appliedRoles"][0]["status"], "Applied");
    assert_eq!(status["user"]["email"], "alice@example.com");
    let binding = api.get(&format!("{}/alice-viewer", bindings("acme"))).await;
    assert_eq!(binding.status, 200, "{}", binding.body);
    assert_eq!(
        binding.body["metadata"]["labels"]["resourcemanager.miloapis.com/membership"],
        "alice"
    );
    assert_eq!(
        binding.body["metadata"]["ownerReferences"][0]["uid"],
        r.body["metadata"]["uid"]
    );
    let listed = api
        .get(&format!(
            "{}?labelSelector=resourcemanager.miloapis.com%2Fmembership%3Dalice",
            bindings("acme")
        ))
        .await;
    assert_eq!(common::names(&listed.body), ["alice-viewer"]);
    // In force on the next request.
    assert_eq!(api.call_as(&alice, "GET", &org, None).await.status, 200);

    // A role swapped: the old binding goes, the new one grants.
    let swapped = api
        .call(
            "PATCH",
            &format!("{}/alice", memberships("acme")),
            Some(json!({"spec": {"roles": [{"name": "editor"}]}})),
        )
        .await;
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert_eq!(
        api.get(&format!("{}/alice-viewer", bindings("acme")))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("{}/alice-editor", bindings("acme")))
            .await
            .status,
        200
    );
    assert_eq!(api.call_as(&alice, "GET", &org, None).await.status, 403);
    let update = api
        .call_as(
            &alice,
            "PATCH",
            &org,
            Some(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.body);

    // Deleted with its membership.
    let deleted = api
        .call("DELETE", &format!("{}/alice", memberships("acme")), None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        api.get(&format!("{}/alice-editor", bindings("acme")))
            .await
            .status,
        404
    );
    let update = api
        .call_as(
            &alice,
            "PATCH",
            &org,
            Some(json!({"metadata": {"labels": {"x": "z"}}})),
        )
        .await;
    assert_eq!(update.status, 403, "{}", update.body);
}

#[tokio::test]
async fn what_a_membership_names_must_exist_and_a_role_is_listed_once() {
    let api = api().await;
    setup(&api, "strict", &["bob"]).await;
    for (body, field) in [
        (
            membership("strict", "m1", "bob", json!([{"name": "no-such-role"}])),
            "spec.roles[0]",
        ),
        (
            {
                let mut m = membership("strict", "m2", "bob", json!([]));
                m["spec"]["organizationRef"]["name"] = json!("nowhere");
                m
            },
            "spec.organizationRef.name",
        ),
        (
            membership(
                "strict",
                "m3",
                "bob",
                json!([{"name": "viewer"}, {"name": "viewer"}]),
            ),
            "spec.roles[1]",
        ),
    ] {
        let r = api.post(&memberships("strict"), body).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            common::causes(&r.body).iter().any(|c| c.contains(field)),
            "{field}: {}",
            r.body
        );
    }
    let listed = api.get(&bindings("strict")).await;
    assert_eq!(common::names(&listed.body), Vec::<String>::new());
}

#[tokio::test]
async fn the_last_owner_of_an_organization_stays() {
    let api = api().await;
    setup(&api, "owned", &["ann", "ben"]).await;
    let owner = json!([{"name": OWNER, "namespace": "milo-system"}]);
    for user in ["ann", "ben"] {
        let r = api
            .post(
                &memberships("owned"),
                membership("owned", user, user, owner.clone()),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    // With another owner left, one may go.
    let r = api
        .call("DELETE", &format!("{}/ann", memberships("owned")), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The last one may neither go nor lose the role.
    let r = api
        .call("DELETE", &format!("{}/ben", memberships("owned")), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().contains("last owner"),
        "{}",
        r.body
    );
    let r = api
        .call(
            "PATCH",
            &format!("{}/ben", memberships("owned")),
            Some(json!({"spec": {"roles": [{"name": "viewer"}]}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let still = api.get(&format!("{}/ben", memberships("owned"))).await;
    assert_eq!(still.body["spec"]["roles"][0]["name"], OWNER);
}

/// A user's control plane lists their own memberships, across
/// organizations, and nobody else's; another user is refused.
#[tokio::test]
async fn a_user_sees_their_memberships_in_their_own_control_plane() {
    let api = api().await;
    setup(&api, "one", &["cleo", "dora"]).await;
    setup(&api, "two", &[]).await;
    for (org, name, user) in [
        ("one", "cleo", "cleo"),
        ("two", "cleo", "cleo"),
        ("one", "dora", "dora"),
    ] {
        let r = api
            .post(
                &memberships(org),
                membership(org, name, user, json!([{"name": "viewer"}])),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let plane = |user: &str| {
        format!("/apis/iam.miloapis.com/v1alpha1/users/{user}/control-plane{RM}/organizationmemberships")
    };
    let cleo = token_for("cleo", &[]);
    let mine = api.call_as(&cleo, "GET", &plane("cleo"), None).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let orgs: Vec<&str> = mine.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["spec"]["organizationRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["one", "two"]);
    let theirs = api.call_as(&cleo, "GET", &plane("dora"), None).await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    // An administrator reads anyone's.
    let admin = api.get(&plane("dora")).await;
    assert_eq!(common::names(&admin.body), ["dora"]);
    let write = api
        .call_as(
            &cleo,
            "POST",
            &plane("cleo"),
            Some(membership("one", "x", "cleo", json!([]))),
        )
        .await;
    assert_eq!(write.status, 405, "{}", write.body);
}

/// Whoever writes a membership must hold what its roles grant in the
/// organization: a membership is no way around the escalation check.
#[tokio::test]
async fn a_membership_grants_only_what_its_writer_holds() {
    let api = api().await;
    setup(&api, "esc", &["mia"]).await;
    let writer = api
        .post(
            &format!("{IAM}/namespaces/milo-system/roles"),
            json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "Role",
                   "metadata": {"name": "membership-writer", "namespace": "milo-system"},
                   "spec": {"launchStage": "Beta", "includedPermissions": ["resourcemanager.miloapis.com/organizationmemberships.create"]}}),
        )
        .await;
    assert_eq!(writer.status, 201, "{}", writer.body);
    let org_uid = api.get(&format!("{G}/organizations/esc")).await.body["metadata"]["uid"].clone();
    for (name, role, selector) in [
        (
            "mia-writes",
            "membership-writer",
            json!({"resourceKind": {"apiGroup": "resourcemanager.miloapis.com", "kind": "OrganizationMembership"}}),
        ),
        (
            "mia-views",
            "viewer",
            json!({"resourceRef": {"apiGroup": "resourcemanager.miloapis.com", "kind": "Organization", "name": "esc", "uid": org_uid}}),
        ),
    ] {
        let namespace = if role == "viewer" {
            ns("esc")
        } else {
            "milo-system".to_string()
        };
        let r = api
            .post(
                &format!("{IAM}/namespaces/milo-system/policybindings"),
                json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "PolicyBinding",
                       "metadata": {"name": name, "namespace": "milo-system"},
                       "spec": {"roleRef": {"name": role, "namespace": namespace},
                                "subjects": [{"kind": "User", "name": "mia"}],
                                "resourceSelector": selector}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let mia = token_for("mia", &[]);
    let owner = api
        .call_as(
            &mia,
            "POST",
            &memberships("esc"),
            Some(membership(
                "esc",
                "mia-owner",
                "mia",
                json!([{"name": OWNER, "namespace": "milo-system"}]),
            )),
        )
        .await;
    assert_eq!(owner.status, 403, "{}", owner.body);
    assert!(
        owner.body["message"]
            .as_str()
            .unwrap()
            .contains("organizations.delete"),
        "{}",
        owner.body
    );
    assert_eq!(
        api.get(&format!("{}/mia-owner", memberships("esc")))
            .await
            .status,
        404
    );
    let viewer = api
        .call_as(
            &mia,
            "POST",
            &memberships("esc"),
            Some(membership(
                "esc",
                "mia-viewer",
                "mia",
                json!([{"name": "viewer"}]),
            )),
        )
        .await;
    assert_eq!(viewer.status, 201, "{}", viewer.body);
}

/// Milo's user-deletion-org-membership-cleanup: a User carries the
/// membership-cleanup finalizer; deleted, it waits Terminating until the
/// gc function has deleted its memberships (the last owner's too) and
/// their bindings, then goes.
#[tokio::test]
async fn a_deleted_user_takes_its_memberships_and_their_bindings_with_it() {
    let api = api().await;
    setup(&api, "acme", &["alice", "bob"]).await;
    let user = api.get(&format!("{IAM}/users/alice")).await;
    assert_eq!(
        user.body["metadata"]["finalizers"],
        json!(["iam.miloapis.com/user-membership-cleanup"]),
        "{}",
        user.body
    );
    let owner = json!([{"name": OWNER, "namespace": "milo-system"}]);
    for (name, user) in [("m-alice", "alice"), ("m-bob", "bob")] {
        let r = api
            .post(
                &memberships("acme"),
                membership("acme", name, user, owner.clone()),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = api
        .call("DELETE", &format!("{IAM}/users/alice"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["metadata"]["deletionTimestamp"].is_string(),
        "{}",
        r.body
    );
    while apiserver::gc::sweep(&api.server).await.unwrap().deletes > 0 {}
    assert_eq!(api.get(&format!("{IAM}/users/alice")).await.status, 404);
    let left = api.get(&memberships("acme")).await;
    let names: Vec<&str> = left.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["m-bob"], "only alice's membership went");
    let bindings = api.get(&bindings("acme")).await;
    let named: Vec<&str> = bindings.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["metadata"]["name"].as_str())
        .collect();
    assert!(named.iter().all(|n| !n.starts_with("m-alice")), "{named:?}");

    // Bob is now the last owner: his membership stays while he does.
    let r = api
        .call("DELETE", &format!("{}/m-bob", memberships("acme")), None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// #20 item 5: whoever creates an organization is its owner on the next
/// request (membership `member-{user}` and its binding written with the
/// organization), sees it alone in the platform's list, manages its
/// members, and stays its last owner; an administrator's organization gets
/// no membership, and the organization's delete takes the owner's with it.
#[tokio::test]
async fn an_organizations_creator_is_its_owner_from_the_create_on() {
    let api = api().await;
    for user in ["olga", "pete"] {
        let r = api
            .post(
                &format!("{IAM}/users"),
                json!({"apiVersion": "iam.miloapis.com/v1alpha1", "kind": "User",
                       "metadata": {"name": user}, "spec": {"email": format!("{user}@example.com")}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let olga_uid = api.get(&format!("{IAM}/users/olga")).await.body["metadata"]["uid"].clone();
    let (olga, pete) = (token_for("olga", &[]), token_for("pete", &[]));
    let created = api
        .call_as(
            &olga,
            "POST",
            &format!("{G}/organizations"),
            Some(common::organization("olgas")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let org_uid = created.body["metadata"]["uid"].clone();

    let org_as = |token| {
        api.call_as(
            token,
            "GET",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/olgas",
            None,
        )
    };
    let leave = || {
        api.call_as(&olga, "DELETE", "/apis/resourcemanager.miloapis.com/v1alpha1/namespaces/organization-olgas/organizationmemberships/member-olga", None)
    };

    // Owner at once: her organization, a project in it, its members.
    let get = org_as(&olga).await;
    assert_eq!(get.status, 200, "{}", get.body);
    let project = api
        .call_as(
            &olga,
            "POST",
            &format!("{G}/organizations/olgas/control-plane{G}/projects"),
            Some(common::project("olgas-p", "Organization", "olgas")),
        )
        .await;
    assert_eq!(project.status, 201, "{}", project.body);
    let members = api.call_as(&olga, "GET", &memberships("olgas"), None).await;
    assert_eq!(members.status, 200, "{}", members.body);
    assert_eq!(common::names(&members.body), ["member-olga"]);
    let member = &members.body["items"][0];
    assert_eq!(member["spec"]["userRef"]["name"], "olga");
    assert_eq!(member["spec"]["roles"][0]["name"], OWNER);
    assert_eq!(member["status"]["conditions"][0]["status"], "True");
    assert_eq!(member["status"]["user"]["email"], "olga@example.com");
    // Her organization's control plane sees the same memberships (Milo's
    // planes are views of one store); another user's request there is refused.
    let in_plane = format!(
        "{G}/organizations/olgas/control-plane{RM}/namespaces/organization-olgas/organizationmemberships"
    );
    let seen = api.call_as(&olga, "GET", &in_plane, None).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(common::names(&seen.body), ["member-olga"]);
    let other = api.call_as(&pete, "GET", &in_plane, None).await;
    assert_eq!(other.status, 403, "{}", other.body);
    let binding = api
        .get(&format!("{}/member-olga-{OWNER}", bindings("olgas")))
        .await;
    assert_eq!(binding.status, 200, "{}", binding.body);
    assert_eq!(binding.body["spec"]["subjects"][0]["uid"], olga_uid);
    assert_eq!(
        binding.body["spec"]["resourceSelector"]["resourceRef"]["uid"],
        org_uid
    );

    // Hers alone: the platform lists her organization to her, not to pete.
    assert_eq!(api.org("others").await.status, 201);
    let listed = api
        .call_as(&olga, "GET", &format!("{G}/organizations"), None)
        .await;
    assert_eq!(common::names(&listed.body), ["olgas"]);
    let denied = org_as(&pete).await;
    assert_eq!(denied.status, 403, "{}", denied.body);

    // The last owner stays; with pete made an owner too, she may go.
    let refused = leave().await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let invite = api
        .call_as(
            &olga,
            "POST",
            &memberships("olgas"),
            Some(membership(
                "olgas",
                "pete",
                "pete",
                json!([{"name": OWNER, "namespace": "milo-system"}]),
            )),
        )
        .await;
    assert_eq!(invite.status, 201, "{}", invite.body);
    let as_pete = org_as(&pete).await;
    assert_eq!(as_pete.status, 200, "{}", as_pete.body);
    let left = leave().await;
    assert_eq!(left.status, 200, "{}", left.body);
    let gone = org_as(&olga).await;
    assert_eq!(gone.status, 403, "{}", gone.body);

    // An administrator's organization has no member it did not ask for.
    let admins = api.get(&memberships("others")).await;
    assert_eq!(admins.status, 200, "{}", admins.body);
    assert!(common::names(&admins.body).is_empty(), "{}", admins.body);

    // The organization's delete takes its members and their grants along.
    let delete = api
        .call_as(&pete, "DELETE", &format!("{G}/organizations/olgas"), None)
        .await;
    assert!(
        delete.status == 200 || delete.status == 202,
        "{}",
        delete.body
    );
    for _ in 0..10 {
        let pass = apiserver::gc::sweep(&api.server).await.expect("a gc pass");
        if pass.queued == 0 {
            break;
        }
    }
    assert_eq!(
        api.get(&format!("{G}/organizations/olgas")).await.status,
        404
    );
    let left = api.get(&memberships("olgas")).await;
    assert!(common::names(&left.body).is_empty(), "{}", left.body);
    let grants = api.get(&bindings("olgas")).await;
    assert!(common::names(&grants.body).is_empty(), "{}", grants.body);
}
