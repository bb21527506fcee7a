//! ClaimCreationPolicy and GrantCreationPolicy (platform, cluster-scoped):
//! when an object of the trigger kind is written and every constraint
//! holds, render the template into a ResourceClaim / ResourceGrant for it.
//! Expressions and templates are compiled when the policy is written; a
//! rendered document is checked like a written one before anything is
//! stored.

use serde_json::{json, Value};

use super::claim::parse_claim;
use super::created::{assemble_metadata, owner_reference, resource_ref};
use super::grant::parse_grant;
use super::names::*;
use super::policy_expr::{
    compile, Activation, PolicyError, PolicyExpr, CLAIM_POLICY_ROOTS, GRANT_POLICY_ROOTS,
    PARENT_CONTEXT_ROOTS,
};
use super::read::{
    bounded_array, check_api_group, check_length, name_and_generation, non_negative_amount,
    positive_amount, required_string, spec,
};
use super::registration::ResourceRegistration;
use super::template::TemplateValue;
use super::trigger::{PolicyInputs, Trigger};
use crate::crd::fields::{forbidden, Field, Reader};
use crate::metadata_rules::{dns1123_label_errors, is_label_value};
use crate::Cause;

pub const MAX_NAME_EXPRESSION: usize = 512;

/// Template labels are literal (Milo: "no expression processing").
const LITERAL_PATHS: &[&str] = &["metadata.labels"];

/// The policies whose templates name `resource_type`, as `Kind "name"`:
/// what its registration's deletion would break (every create they match
/// would then be refused, its type unregistered).
pub fn policies_naming(
    resource_type: &str,
    claim_policies: &[ClaimCreationPolicy],
    grant_policies: &[GrantCreationPolicy],
) -> Vec<String> {
    let names = |types: &[(String, i64)]| types.iter().any(|(t, _)| t == resource_type);
    let claims = claim_policies
        .iter()
        .filter(|p| names(&p.requests))
        .map(|p| format!("ClaimCreationPolicy {:?}", p.name));
    let grants = grant_policies
        .iter()
        .filter(|p| names(&p.allowances))
        .map(|p| format!("GrantCreationPolicy {:?}", p.name));
    claims.chain(grants).collect()
}

/// A parsed ClaimCreationPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCreationPolicy {
    pub name: String,
    pub generation: i64,
    pub disabled: bool,
    pub trigger: Trigger,
    /// The resource types the template requests, with their amounts.
    pub requests: Vec<(String, i64)>,
    template: TemplateValue,
}

/// A parsed GrantCreationPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantCreationPolicy {
    pub name: String,
    pub generation: i64,
    pub disabled: bool,
    pub trigger: Trigger,
    /// The resource types the template grants, with their amounts.
    pub allowances: Vec<(String, i64)>,
    parent_context: Option<ParentContextTemplate>,
    template: TemplateValue,
}

#[derive(Debug, Clone, PartialEq)]
struct ParentContextTemplate {
    api_group: String,
    kind: String,
    name: PolicyExpr,
}

/// Where a rendered grant is to be created when the policy names a parent
/// control plane (`spec.target.parentContext`), its name resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentContext {
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

/// A rendered grant and, if the policy says so, the context it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedGrant {
    pub document: Value,
    pub parent_context: Option<ParentContext>,
}

/// Parses a ClaimCreationPolicy, compiling its constraints and template.
pub fn parse_claim_creation_policy(doc: &Value) -> Result<ClaimCreationPolicy, Vec<Cause>> {
    let (policy, requests, ()) = read_policy(
        doc,
        CLAIM_POLICY_ROOTS,
        "resourceClaimTemplate",
        |r, spec| {
            let resource_ref = spec.get("resourceRef");
            if resource_ref.is_present() {
                r.push(forbidden(
                    &resource_ref.path,
                    "resourceRef is set to the trigger object and cannot be set in the template",
                ));
            }
            // Optional, as in Milo: a claim without one is made against
            // the trigger's control plane (`claim_in_context_for`).
            let consumer_ref = spec.get("consumerRef");
            if consumer_ref.is_present() {
                require_consumer_ref(r, &consumer_ref);
            }
            let mut requests = Vec::new();
            for item in bounded_array(r, &spec.get("requests"), 1, super::claim::MAX_REQUESTS) {
                let resource_type = required_string(r, &item.get("resourceType"));
                let amount = positive_amount(r, &item.get("amount"));
                if let (Some(t), Some(a)) = (resource_type, amount) {
                    requests.push((t, a));
                }
            }
            requests
        },
        |_, _| (),
    )?;
    Ok(ClaimCreationPolicy {
        name: policy.name,
        generation: policy.generation,
        disabled: policy.disabled,
        trigger: policy.trigger,
        requests,
        template: policy.template,
    })
}

/// Parses a GrantCreationPolicy, compiling its constraints, template and
/// parent-context name expression.
pub fn parse_grant_creation_policy(doc: &Value) -> Result<GrantCreationPolicy, Vec<Cause>> {
    let (policy, allowances, parent_context) = read_policy(
        doc,
        GRANT_POLICY_ROOTS,
        "resourceGrantTemplate",
        |r, spec| {
            require_consumer_ref(r, &spec.get("consumerRef"));
            let mut allowances = Vec::new();
            for item in bounded_array(r, &spec.get("allowances"), 1, super::grant::MAX_ALLOWANCES) {
                let resource_type = required_string(r, &item.get("resourceType"));
                let mut total = 0i64;
                for bucket in bounded_array(r, &item.get("buckets"), 1, usize::MAX) {
                    total = total
                        .saturating_add(non_negative_amount(r, &bucket.get("amount")).unwrap_or(0));
                }
                if let Some(t) = resource_type {
                    allowances.push((t, total));
                }
            }
            allowances
        },
        read_parent_context,
    )?;
    Ok(GrantCreationPolicy {
        name: policy.name,
        generation: policy.generation,
        disabled: policy.disabled,
        trigger: policy.trigger,
        allowances,
        parent_context,
        template: policy.template,
    })
}

/// What both creation policies are read with alike.
struct PolicyCommon {
    name: String,
    generation: i64,
    disabled: bool,
    trigger: Trigger,
    template: TemplateValue,
}

/// Reads a creation policy: its name and generation, `spec.disabled`,
/// `spec.trigger` and `spec.target.<template>` (expressions over `roots`,
/// the template's spec checked by `check_spec`), then what `read_target`
/// reads of the rest of `spec.target`. Every cause found, if any.
fn read_policy<T: Default, U>(
    doc: &Value,
    roots: &[&str],
    template: &str,
    check_spec: impl FnOnce(&mut Reader, &Field) -> T,
    read_target: impl FnOnce(&mut Reader, &Field) -> U,
) -> Result<(PolicyCommon, T, U), Vec<Cause>> {
    let mut r = Reader::default();
    let root = Field::root(doc);
    let spec = spec(&mut r, &root);
    let (name, generation) = name_and_generation(doc);
    let disabled = r.boolean(&spec.get("disabled")).unwrap_or(false);
    let trigger = Trigger::read(&mut r, &spec.get("trigger"), roots);
    let target = spec.get("target");
    let template_field = target.get(template);
    let (template, checked) = read_template(&mut r, &target, &template_field, roots, check_spec);
    let rest = read_target(&mut r, &target);
    match (trigger, template, r.causes.is_empty()) {
        (Some(trigger), Some(template), true) => Ok((
            PolicyCommon {
                name,
                generation,
                disabled,
                trigger,
                template,
            },
            checked,
            rest,
        )),
        _ if !r.causes.is_empty() => Err(r.causes),
        _ => Err(vec![Cause::required("spec")]),
    }
}

/// A GrantCreationPolicy's `spec.target.parentContext`, if set.
fn read_parent_context(r: &mut Reader, target: &Field) -> Option<ParentContextTemplate> {
    let parent_field = target.get("parentContext");
    if !parent_field.is_present() || !r.object(&parent_field) {
        return None;
    }
    let group_field = parent_field.get("apiGroup");
    let api_group = required_string(r, &group_field);
    if let Some(g) = &api_group {
        check_api_group(r, &group_field, g);
    }
    let kind = required_string(r, &parent_field.get("kind"));
    let expr_field = parent_field.get("nameExpression");
    let expr = required_string(r, &expr_field).and_then(|source| {
        check_length(r, &expr_field, &source, 1, MAX_NAME_EXPRESSION);
        compile(
            &source,
            &expr_field.path,
            PARENT_CONTEXT_ROOTS,
            &mut r.causes,
        )
    });
    match (api_group, kind, expr) {
        (Some(api_group), Some(kind), Some(name)) => Some(ParentContextTemplate {
            api_group,
            kind,
            name,
        }),
        _ => None,
    }
}

fn require_consumer_ref(r: &mut Reader, field: &Field) {
    if !field.is_present() {
        r.push(Cause::required(&field.path));
        return;
    }
    if r.object(field) {
        required_string(r, &field.get("kind"));
        required_string(r, &field.get("name"));
    }
}

/// Reads `target.<template>`: `metadata` and `spec` objects, the static
/// parts checked by `check_spec`, every other string compiled as a template.
fn read_template<T: Default>(
    r: &mut Reader,
    target: &Field,
    field: &Field,
    roots: &[&str],
    check_spec: impl FnOnce(&mut Reader, &Field) -> T,
) -> (Option<TemplateValue>, T) {
    if !target.is_present() {
        r.push(Cause::required(&target.path));
        return (None, T::default());
    }
    if !field.is_present() {
        r.push(Cause::required(&field.path));
        return (None, T::default());
    }
    if !r.object(field) {
        return (None, T::default());
    }
    let metadata = field.get("metadata");
    let spec = field.get("spec");
    for part in [&metadata, &spec] {
        if !part.is_present() {
            r.push(Cause::required(&part.path));
        } else {
            r.object(part);
        }
    }
    let checked = check_spec(r, &spec);
    let value = field.value.cloned().unwrap_or(Value::Null);
    // Compiled relative to the template, so that `metadata.labels` is found
    // as a literal path; causes then get the template's prefix.
    let mut causes = Vec::new();
    let template = TemplateValue::compile(&value, "", roots, LITERAL_PATHS, &mut causes);
    for mut cause in causes {
        cause.field = format!("{}.{}", field.path, cause.field);
        r.push(cause);
    }
    (Some(template), checked)
}

impl ClaimCreationPolicy {
    /// Whether the policy creates a claim for this trigger: enabled, of the
    /// trigger kind, every constraint true. A constraint that fails to
    /// evaluate is an error, not a silent skip: quota would be bypassed.
    pub fn applies_to(&self, inputs: &PolicyInputs) -> Result<bool, PolicyError> {
        Ok(self.applying_activation(inputs)?.is_some())
    }

    /// The ResourceClaim this policy makes for `inputs.trigger`, if it
    /// applies, checked as a written claim would be; the constraints and the
    /// template are evaluated on one activation. The trigger should carry
    /// its `metadata.uid` (for the owner reference) and namespace if it has
    /// one.
    pub fn claim_for(&self, inputs: &PolicyInputs) -> Result<Option<Value>, PolicyError> {
        self.claim_in_context_for(inputs, None)
    }

    /// [`Self::claim_for`], a template without `consumerRef` taking
    /// `context_consumer` (a reference to the organization or project whose
    /// control plane the trigger is written in), as Milo fills it from the
    /// request's context.
    pub fn claim_in_context_for(
        &self,
        inputs: &PolicyInputs,
        context_consumer: Option<&Value>,
    ) -> Result<Option<Value>, PolicyError> {
        match self.applying_activation(inputs)? {
            Some(activation) => self
                .render_claim(inputs.trigger, &activation, context_consumer)
                .map(Some),
            None => Ok(None),
        }
    }

    fn applying_activation(
        &self,
        inputs: &PolicyInputs,
    ) -> Result<Option<Activation>, PolicyError> {
        if self.disabled || !self.trigger.matches_kind(inputs.trigger) {
            return Ok(None);
        }
        let activation = self.activation(inputs)?;
        let holds = self
            .trigger
            .constraints_hold(&activation, &|field, message| self.error(field, message))?;
        Ok(holds.then_some(activation))
    }

    fn render_claim(
        &self,
        trigger: &Value,
        activation: &Activation,
        context_consumer: Option<&Value>,
    ) -> Result<Value, PolicyError> {
        let rendered = self
            .template
            .render("", activation)
            .map_err(|(field, message)| {
                self.error(
                    format!("spec.target.resourceClaimTemplate.{field}"),
                    message,
                )
            })?;
        let mut causes = Vec::new();
        let mut metadata = assemble_metadata(
            &rendered,
            trigger,
            &self.name,
            CLAIM_CREATED_BY,
            &mut causes,
        );
        let trigger_name = trigger["metadata"]["name"].as_str().unwrap_or_default();
        let trigger_kind = trigger["kind"].as_str().unwrap_or_default();
        if let Some(labels) = metadata.get_mut("labels").and_then(Value::as_object_mut) {
            for (key, value) in [
                (RESOURCE_NAME_LABEL, trigger_name),
                (RESOURCE_KIND_LABEL, trigger_kind),
            ] {
                if is_label_value(value) {
                    labels.insert(key.to_string(), json!(value));
                }
            }
        }
        metadata.insert(
            "ownerReferences".into(),
            json!([owner_reference(trigger, false)]),
        );
        let mut spec = rendered["spec"].clone();
        let mut no_consumer = false;
        if let Some(s) = spec.as_object_mut() {
            s.insert("resourceRef".into(), resource_ref(trigger));
            if !s.contains_key("consumerRef") {
                no_consumer = context_consumer.is_none();
                match context_consumer {
                    Some(consumer) => {
                        s.insert("consumerRef".into(), consumer.clone());
                    }
                    None => causes.push(Cause {
                        reason: "FieldValueRequired".into(),
                        field: "spec.target.resourceClaimTemplate.spec.consumerRef".into(),
                        message: "Required value: the template names no consumerRef and the trigger is in no organization's or project's control plane to take it from".into(),
                    }),
                }
            }
        }
        let document = json!({
            "apiVersion": RESOURCE_CLAIM.api_version(),
            "kind": RESOURCE_CLAIM.kind,
            "metadata": metadata,
            "spec": spec,
        });
        if let Err(more) = parse_claim(&document) {
            // A missing consumerRef is said above, where it can be fixed.
            causes.extend(
                more.into_iter()
                    .filter(|c| !(no_consumer && c.field == "spec.consumerRef")),
            );
        }
        if !causes.is_empty() {
            return Err(PolicyError::InvalidDocument {
                policy_kind: CLAIM_CREATION_POLICY.kind,
                policy: self.name.clone(),
                kind: RESOURCE_CLAIM.kind,
                causes,
            });
        }
        Ok(document)
    }

    /// Checks at write that every requested type is registered and may be
    /// claimed by the trigger kind (Milo: a policy for unregistered types is
    /// not Ready). Templated resource types cannot be checked before use.
    pub fn check_registrations(&self, registrations: &[ResourceRegistration]) -> Vec<Cause> {
        check_types(
            self.requests.iter().map(|(t, _)| t.as_str()),
            "spec.target.resourceClaimTemplate.spec.requests",
            registrations,
            Some(&self.trigger),
        )
    }

    fn activation(&self, inputs: &PolicyInputs) -> Result<Activation, PolicyError> {
        Activation::new(&[
            ("trigger", inputs.trigger),
            ("user", inputs.user),
            ("requestInfo", inputs.request_info),
        ])
        .map_err(|e| self.error("trigger".into(), e))
    }

    fn error(&self, field: String, message: String) -> PolicyError {
        PolicyError::Evaluation {
            policy_kind: CLAIM_CREATION_POLICY.kind,
            policy: self.name.clone(),
            field,
            message,
        }
    }
}

impl GrantCreationPolicy {
    /// Whether the policy wants a grant for this trigger (as
    /// [`ClaimCreationPolicy::applies_to`]). On an update that makes it
    /// false, the grant it made goes.
    pub fn applies_to(&self, trigger: &Value) -> Result<bool, PolicyError> {
        if self.disabled || !self.trigger.matches_kind(trigger) {
            return Ok(false);
        }
        let activation = self.activation(trigger)?;
        self.trigger
            .constraints_hold(&activation, &|field, message| self.error(field, message))
    }

    /// The ResourceGrant for `trigger`, checked as a written grant would be,
    /// and its parent context if the policy names one. Rendering again after
    /// the trigger changes gives the grant's new content.
    pub fn render_grant(&self, trigger: &Value) -> Result<RenderedGrant, PolicyError> {
        let activation = self.activation(trigger)?;
        let rendered = self
            .template
            .render("", &activation)
            .map_err(|(field, message)| {
                self.error(
                    format!("spec.target.resourceGrantTemplate.{field}"),
                    message,
                )
            })?;
        let mut causes = Vec::new();
        let mut metadata = assemble_metadata(
            &rendered,
            trigger,
            &self.name,
            GRANT_CREATED_BY,
            &mut causes,
        );
        metadata.insert(
            "ownerReferences".into(),
            json!([owner_reference(trigger, true)]),
        );
        let document = json!({
            "apiVersion": RESOURCE_GRANT.api_version(),
            "kind": RESOURCE_GRANT.kind,
            "metadata": metadata,
            "spec": rendered["spec"].clone(),
        });
        if let Err(more) = parse_grant(&document) {
            causes.extend(more);
        }
        let parent_context = match &self.parent_context {
            None => None,
            Some(p) => {
                let object = Activation::new(&[("object", trigger), ("trigger", trigger)])
                    .map_err(|e| self.error("trigger".into(), e))?;
                let field = "spec.target.parentContext.nameExpression".to_string();
                let name = p
                    .name
                    .evaluate_text(&object)
                    .map_err(|e| self.error(field.clone(), e))?;
                for detail in dns1123_label_errors(&name) {
                    causes.push(Cause::invalid(
                        field.clone(),
                        format!("Invalid value: {name:?}: {detail}"),
                    ));
                }
                Some(ParentContext {
                    api_group: p.api_group.clone(),
                    kind: p.kind.clone(),
                    name,
                })
            }
        };
        if !causes.is_empty() {
            return Err(PolicyError::InvalidDocument {
                policy_kind: GRANT_CREATION_POLICY.kind,
                policy: self.name.clone(),
                kind: RESOURCE_GRANT.kind,
                causes,
            });
        }
        Ok(RenderedGrant {
            document,
            parent_context,
        })
    }

    /// Checks at write that every granted type is registered.
    pub fn check_registrations(&self, registrations: &[ResourceRegistration]) -> Vec<Cause> {
        check_types(
            self.allowances.iter().map(|(t, _)| t.as_str()),
            "spec.target.resourceGrantTemplate.spec.allowances",
            registrations,
            None,
        )
    }

    fn activation(&self, trigger: &Value) -> Result<Activation, PolicyError> {
        Activation::new(&[("trigger", trigger)]).map_err(|e| self.error("trigger".into(), e))
    }

    fn error(&self, field: String, message: String) -> PolicyError {
        PolicyError::Evaluation {
            policy_kind: GRANT_CREATION_POLICY.kind,
            policy: self.name.clone(),
            field,
            message,
        }
    }
}

fn check_types<'a>(
    types: impl Iterator<Item = &'a str>,
    path: &str,
    registrations: &[ResourceRegistration],
    claimed_by: Option<&Trigger>,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, t) in types.enumerate() {
        if t.contains("{{") {
            continue;
        }
        let field = format!("{path}[{i}].resourceType");
        match registrations.iter().find(|r| r.resource_type == t) {
            None => causes.push(Cause::invalid(
                field,
                format!(
                    "Invalid value: {t:?}: no ResourceRegistration registers this resource type"
                ),
            )),
            Some(reg) => {
                if let Some(trigger) = claimed_by {
                    if !reg.may_be_claimed_by(&trigger.api_group, &trigger.kind) {
                        causes.push(Cause::invalid(
                            field,
                            format!(
                                "Invalid value: {t:?}: {}/{} is not among the claimingResources of ResourceRegistration {:?}",
                                trigger.api_group, trigger.kind, reg.name
                            ),
                        ));
                    }
                }
            }
        }
    }
    causes
}
