//! Cedar policies: validation on write (errors with line and column), and the index that
//! keeps decisions fast however many policies there are — policies grouped by scope (global or
//! one account) and by the action they name, so a decision evaluates only the policies that
//! can apply to its action.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{ActionConstraint, Authorizer, Effect, Entities, PolicySet, Request};

use crate::error::FieldError;
use crate::ids::{AccountId, PolicyId};

use super::native::Statement;

/// The longest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// A stored policy, compiled.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// Warden's id for the policy.
    pub id: PolicyId,
    /// Its account; `None` for a global policy.
    pub account: Option<AccountId>,
    /// Whether it takes part in decisions.
    pub enabled: bool,
    /// Its statements, each with a Cedar id derived from `id`.
    pub statements: Vec<cedar_policy::Policy>,
    /// The statements the fast path evaluates, compiled natively (`None`: Cedar's alone).
    native: Vec<Option<Arc<Statement>>>,
}

impl CompiledPolicy {
    /// A policy whose statements in the common subset are also compiled for the fast path.
    pub fn new(
        id: PolicyId,
        account: Option<AccountId>,
        enabled: bool,
        statements: Vec<cedar_policy::Policy>,
    ) -> Self {
        let native = statements
            .iter()
            .map(|statement| Statement::compile(id, statement).map(Arc::new))
            .collect();
        Self {
            id,
            account,
            enabled,
            statements,
            native,
        }
    }

    /// The same policy with every statement left to Cedar: the reference the fast path is
    /// tested and measured against.
    #[must_use]
    pub fn interpreted_only(mut self) -> Self {
        self.native = vec![None; self.statements.len()];
        self
    }

    /// How many of its statements the fast path evaluates.
    pub fn native_statements(&self) -> usize {
        self.native.iter().flatten().count()
    }

    /// Each statement with its native form, when it has one.
    fn pairs(&self) -> impl Iterator<Item = (&cedar_policy::Policy, Option<&Arc<Statement>>)> {
        self.statements.iter().zip(
            self.native
                .iter()
                .map(Option::as_ref)
                .chain(std::iter::repeat(None)),
        )
    }
}

/// Parses policy text into statements named after `id` (`<id>` for a single statement,
/// `<id>#<n>` for several), or says what is wrong and where.
pub fn compile(id: &PolicyId, text: &str) -> Result<Vec<cedar_policy::Policy>, Vec<FieldError>> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(vec![FieldError::new(
            "cedar",
            format!("the policy text is longer than {MAX_POLICY_BYTES} bytes"),
        )]);
    }
    let set = PolicySet::from_str(text).map_err(|errors| {
        errors
            .iter()
            .map(|error| {
                let (line, column) = position(error, text);
                FieldError::at("cedar", error.to_string(), line, column)
            })
            .collect::<Vec<_>>()
    })?;
    if set.templates().next().is_some() {
        return Err(vec![FieldError::new(
            "cedar",
            "templates (`?principal`, `?resource`) are not supported; write the entity out",
        )]);
    }
    let statements: Vec<&cedar_policy::Policy> = set.policies().collect();
    if statements.is_empty() {
        return Err(vec![FieldError::new(
            "cedar",
            "the text holds no policy statement",
        )]);
    }
    let single = statements.len() == 1;
    // `PolicySet` does not keep source order; the parser's own ids (`policy0`, `policy1`, …) do.
    let mut ordered: Vec<(usize, &cedar_policy::Policy)> = statements
        .into_iter()
        .map(|p| {
            let name: &str = p.id().as_ref();
            let n = name
                .trim_start_matches("policy")
                .parse()
                .unwrap_or(usize::MAX);
            (n, p)
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    Ok(ordered
        .into_iter()
        .enumerate()
        .map(|(n, (_, policy))| {
            let name = if single {
                id.to_string()
            } else {
                format!("{id}#{n}")
            };
            policy.new_id(cedar_policy::PolicyId::new(name))
        })
        .collect())
}

/// The actions `permit` statements may allow, as permission patterns: a statement that names no
/// action may allow anything (`*`). Action ids that are not permissions can never be asked
/// about and are left out.
pub fn permitted_actions(
    statements: &[cedar_policy::Policy],
) -> crate::authz::permission::PermissionSet {
    use crate::authz::permission::Permission;
    let mut out = Vec::new();
    for statement in statements.iter().filter(|p| p.effect() == Effect::Permit) {
        let named = match statement.action_constraint() {
            ActionConstraint::Any => {
                out.push(Permission::known("*"));
                continue;
            }
            ActionConstraint::Eq(action) => vec![action],
            ActionConstraint::In(actions) => actions,
        };
        out.extend(
            named
                .iter()
                .filter_map(|action| Permission::parse(action.id().unescaped()).ok()),
        );
    }
    out.into_iter().collect()
}

/// The longest schema text accepted, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// The 1-based position of a diagnostic's first label in `text`.
fn position(diagnostic: &dyn miette::Diagnostic, text: &str) -> (usize, usize) {
    let offset = diagnostic
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or(0, |label| label.offset());
    line_and_column(text, offset)
}

/// Parses a Cedar schema (Cedar schema syntax), or says what is wrong and where.
pub fn parse_schema(text: &str) -> Result<cedar_policy::Schema, Vec<FieldError>> {
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(vec![FieldError::new(
            "policy_schema",
            format!("the schema is longer than {MAX_SCHEMA_BYTES} bytes"),
        )]);
    }
    cedar_policy::Schema::from_cedarschema_str(text)
        .map(|(schema, _warnings)| schema)
        .map_err(|error| {
            let (line, column) = position(&error, text);
            vec![FieldError::at(
                "policy_schema",
                error.to_string(),
                line,
                column,
            )]
        })
}

/// Validates policy text against an account's schema (strict mode), naming the line and
/// column of each problem in the policy text.
pub fn validate_with_schema(
    id: &PolicyId,
    text: &str,
    schema_text: &str,
) -> Result<(), Vec<FieldError>> {
    let schema = parse_schema(schema_text)?;
    let mut set = PolicySet::new();
    for statement in compile(id, text)? {
        // Ids are unique by construction.
        let _ = set.add(statement);
    }
    let result =
        cedar_policy::Validator::new(schema).validate(&set, cedar_policy::ValidationMode::Strict);
    let errors: Vec<FieldError> = result
        .validation_errors()
        .map(|error| {
            let (line, column) = position(error, text);
            FieldError::at("cedar", error.to_string(), line, column)
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

/// The Warden policy a Cedar statement id belongs to.
pub fn owner(statement: &cedar_policy::PolicyId) -> Option<PolicyId> {
    let text: &str = statement.as_ref();
    PolicyId::parse(text.split('#').next().unwrap_or(text)).ok()
}

/// The statements that can apply to one action in one scope.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Every statement, for Cedar: what a decision falls back to.
    pub all: PolicySet,
    /// The statements the fast path evaluates.
    pub native: Vec<Arc<Statement>>,
    /// The statements only Cedar evaluates (`None`: there are none).
    pub interpreted: Option<PolicySet>,
}

type Pair<'a> = (&'a cedar_policy::Policy, Option<&'a Arc<Statement>>);

impl Bucket {
    fn build(pairs: &[Pair<'_>]) -> Self {
        let mut bucket = Self::default();
        let mut interpreted = PolicySet::new();
        for (policy, native) in pairs {
            // Ids are unique by construction; a clash would only drop a duplicate.
            let _ = bucket.all.add((*policy).clone());
            match native {
                Some(statement) => bucket.native.push(Arc::clone(statement)),
                None => {
                    let _ = interpreted.add((*policy).clone());
                }
            }
        }
        let any_interpreted = interpreted.policies().next().is_some();
        bucket.interpreted = any_interpreted.then_some(interpreted);
        bucket
    }
}

/// The policies of one scope, grouped by action.
#[derive(Debug, Default)]
struct Buckets {
    /// For each action some statement names: those statements plus the unconstrained ones.
    by_action: HashMap<String, Bucket>,
    /// Statements that constrain no action, for actions no statement names.
    any: Option<Bucket>,
}

impl Buckets {
    fn build(statements: &[Pair<'_>]) -> Self {
        let mut named: HashMap<String, Vec<Pair<'_>>> = HashMap::new();
        let mut any: Vec<Pair<'_>> = Vec::new();
        for pair in statements {
            match pair.0.action_constraint() {
                ActionConstraint::Any => any.push(*pair),
                ActionConstraint::Eq(action) => named
                    .entry(action.id().unescaped().to_owned())
                    .or_default()
                    .push(*pair),
                ActionConstraint::In(actions) => {
                    for action in actions {
                        named
                            .entry(action.id().unescaped().to_owned())
                            .or_default()
                            .push(*pair);
                    }
                }
            }
        }
        let by_action = named
            .into_iter()
            .map(|(action, mut pairs)| {
                pairs.extend(any.iter().copied());
                (action, Bucket::build(&pairs))
            })
            .collect();
        Self {
            by_action,
            any: (!any.is_empty()).then(|| Bucket::build(&any)),
        }
    }

    fn for_action(&self, action: &str) -> Option<&Bucket> {
        self.by_action.get(action).or(self.any.as_ref())
    }
}

/// Every enabled policy, indexed by scope and action.
#[derive(Debug, Default)]
pub struct PolicyIndex {
    policies: HashMap<PolicyId, Arc<CompiledPolicy>>,
    scopes: HashMap<Option<AccountId>, Buckets>,
}

/// What the policies say about one request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Satisfied `forbid` statements.
    pub forbids: Vec<PolicyId>,
    /// `forbid` statements that failed to evaluate (they deny: fail closed).
    pub failed_forbids: Vec<PolicyId>,
    /// Satisfied `permit` statements.
    pub permits: Vec<PolicyId>,
    /// Every evaluation error, by policy.
    pub errors: Vec<(PolicyId, String)>,
}

impl PolicyIndex {
    /// Indexes `policies` (disabled ones are kept, but never evaluated).
    pub fn build(policies: impl IntoIterator<Item = Arc<CompiledPolicy>>) -> Self {
        let policies: HashMap<PolicyId, Arc<CompiledPolicy>> =
            policies.into_iter().map(|p| (p.id, p)).collect();
        let mut by_scope: HashMap<Option<AccountId>, Vec<Pair<'_>>> = HashMap::new();
        for policy in policies.values().filter(|p| p.enabled) {
            by_scope
                .entry(policy.account)
                .or_default()
                .extend(policy.pairs());
        }
        let scopes = by_scope
            .into_iter()
            .map(|(scope, statements)| (scope, Buckets::build(&statements)))
            .collect();
        Self { policies, scopes }
    }

    /// The index with one policy replaced (`None`: removed).
    pub fn with(&self, id: PolicyId, policy: Option<Arc<CompiledPolicy>>) -> Self {
        self.with_all([(id, policy)])
    }

    /// The index with `changes` applied, rebuilt once however many there are (a batch of
    /// the change log can name thousands of policies).
    pub fn with_all(
        &self,
        changes: impl IntoIterator<Item = (PolicyId, Option<Arc<CompiledPolicy>>)>,
    ) -> Self {
        let mut all: HashMap<PolicyId, Arc<CompiledPolicy>> = self.policies.clone();
        for (id, policy) in changes {
            match policy {
                Some(policy) => all.insert(id, policy),
                None => all.remove(&id),
            };
        }
        Self::build(all.into_values())
    }

    /// Whether a statement of policy `id` names `action` in its action scope (`action ==` or
    /// `action in [...]`), rather than leaving the action unconstrained.
    pub fn names_action(&self, id: &PolicyId, action: &str) -> bool {
        self.policies.get(id).is_some_and(|policy| {
            policy
                .statements
                .iter()
                .any(|statement| match statement.action_constraint() {
                    ActionConstraint::Any => false,
                    ActionConstraint::Eq(named) => named.id().unescaped() == action,
                    ActionConstraint::In(named) => {
                        named.iter().any(|named| named.id().unescaped() == action)
                    }
                })
        })
    }

    /// The actions the enabled policies that apply in `account` name (global ones included):
    /// candidates for "which actions may this subject do?".
    pub fn named_actions(&self, account: Option<&AccountId>) -> Vec<&str> {
        let mut scopes = vec![self.scopes.get(&None)];
        if let Some(account) = account {
            scopes.push(self.scopes.get(&Some(*account)));
        }
        scopes
            .into_iter()
            .flatten()
            .flat_map(|buckets| buckets.by_action.keys().map(String::as_str))
            .collect()
    }

    /// The scope of a policy: `Some(None)` global, `Some(Some(a))` account `a`'s.
    pub fn scope_of(&self, id: &PolicyId) -> Option<Option<AccountId>> {
        self.policies.get(id).map(|p| p.account)
    }

    /// How many policies are indexed.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The statements that can apply to `action` in `account`: the global scope's and the
    /// account's.
    pub fn candidates(&self, account: Option<&AccountId>, action: &str) -> Vec<&Bucket> {
        let mut sets = Vec::with_capacity(2);
        if let Some(set) = self.scopes.get(&None).and_then(|b| b.for_action(action)) {
            sets.push(set);
        }
        if let Some(account) = account {
            if let Some(set) = self
                .scopes
                .get(&Some(*account))
                .and_then(|b| b.for_action(action))
            {
                sets.push(set);
            }
        }
        sets
    }
}

/// Evaluates `sets` for one request with Cedar.
pub fn evaluate<'s>(
    sets: impl IntoIterator<Item = &'s PolicySet>,
    request: &Request,
    entities: &Entities,
) -> Verdict {
    static AUTHORIZER: std::sync::OnceLock<Authorizer> = std::sync::OnceLock::new();
    let authorizer = AUTHORIZER.get_or_init(Authorizer::new);
    let mut verdict = Verdict::default();
    for set in sets {
        let response = authorizer.is_authorized(request, set, entities);
        let reasons = response.diagnostics().reason().filter_map(|id| {
            let effect = set.policy(id)?.effect();
            Some((owner(id)?, effect))
        });
        for (id, effect) in reasons {
            match effect {
                Effect::Forbid => push_unique(&mut verdict.forbids, id),
                Effect::Permit => push_unique(&mut verdict.permits, id),
            }
        }
        for error in response.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(failure) = error;
            let statement = failure.policy_id();
            let Some(id) = owner(statement) else { continue };
            if set
                .policy(statement)
                .is_some_and(|p| p.effect() == Effect::Forbid)
            {
                push_unique(&mut verdict.failed_forbids, id);
            }
            verdict.errors.push((id, failure.to_string()));
        }
    }
    verdict
}

fn push_unique(list: &mut Vec<PolicyId>, id: PolicyId) {
    if !list.contains(&id) {
        list.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let id = PolicyId::new();
        let errors = compile(
            &id,
            "permit(principal, action, resource)\nwhen { principal.x == };",
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "cedar");
        assert_eq!(errors[0].line, Some(2));
        assert!(errors[0].column.is_some_and(|c| c > 1), "{errors:?}");
    }

    #[test]
    fn statements_are_named_after_the_policy() {
        let id = PolicyId::new();
        let one = compile(&id, "permit(principal, action, resource);").unwrap();
        assert_eq!(one[0].id().as_ref(), id.to_string());
        let two = compile(
            &id,
            "permit(principal, action, resource);\nforbid(principal, action, resource);",
        )
        .unwrap();
        assert_eq!(two[1].id().as_ref(), format!("{id}#1"));
        assert_eq!(owner(two[1].id()), Some(id));
        assert!(compile(&id, "").is_err());
        assert!(compile(&id, "permit(principal == ?principal, action, resource);").is_err());
    }
}
