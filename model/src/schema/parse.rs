//! Schema text → [`AvroSchema`]: JSON parsing, then one recursive walk that resolves names,
//! checks Avro's rules and fills the named-type arena, then the checks that need the whole
//! schema (field defaults, a finite top-level record).
//!
//! Every error carries the path of the offending attribute (`fields[2].type`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::{SchemaError, SchemaErrorKind as Kind};
use super::types::{Field, Named, NamedKind, Type, is_full_name, is_simple_name, type_name};
use super::{AvroSchema, json};

type Object = Map<String, Value>;

pub(crate) fn parse(text: &str) -> Result<AvroSchema, SchemaError> {
    let json: Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new("", Kind::NotJson(e.to_string())))?;
    let top = match &json {
        Value::Object(obj) => obj.get("type").and_then(Value::as_str),
        _ => None,
    };
    if top != Some("record") {
        return Err(SchemaError::new(
            "",
            Kind::NotARecord(describe_schema(&json)),
        ));
    }

    let mut parser = Parser::default();
    let root = parser.parse_type(&json, "", "")?;
    let schema = AvroSchema::new(parser.types, root);

    for (ty, default, path) in &parser.defaults {
        if let Err(errors) = json::check_default(&schema, ty, default) {
            let first = &errors[0];
            let message = if first.path == "$" {
                first.message.clone()
            } else {
                format!("at {}: {}", first.path, first.message)
            };
            return Err(SchemaError::new(path.clone(), Kind::BadDefault(message)));
        }
    }
    if !super::inhabited(&schema.types)[0] {
        return Err(SchemaError::new(
            "",
            Kind::Uninhabited(schema.types[0].name.clone()),
        ));
    }
    Ok(schema)
}

/// How a non-record top level is named in [`Kind::NotARecord`].
fn describe_schema(json: &Value) -> String {
    match json {
        Value::String(name) => format!("`{name}`"),
        Value::Array(_) => "a union".into(),
        Value::Object(obj) => match obj.get("type") {
            Some(Value::String(name)) => format!("`{name}`"),
            Some(_) => "an object whose `type` is not a string".into(),
            None => "an object without `type`".into(),
        },
        other => super::types::describe(other).into(),
    }
}

fn join(path: &str, attribute: &str) -> String {
    if path.is_empty() {
        attribute.to_string()
    } else {
        format!("{path}.{attribute}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[derive(Default)]
struct Parser {
    types: Vec<Named>,
    by_name: HashMap<String, usize>,
    /// (field type, default, path of the `default` attribute), checked once the schema is
    /// complete: a default may hold values of the record that is still being parsed.
    defaults: Vec<(Type, Value, String)>,
}

impl Parser {
    /// Parses one schema at `path`; `namespace` is the enclosing namespace ("" for none).
    fn parse_type(
        &mut self,
        json: &Value,
        path: &str,
        namespace: &str,
    ) -> Result<Type, SchemaError> {
        match json {
            Value::String(name) => self.resolve(name, path, namespace),
            Value::Array(branches) => self.parse_union(branches, path, namespace),
            Value::Object(obj) => self.parse_object(obj, path, namespace),
            other => Err(SchemaError::new(
                path,
                Kind::NotASchema(super::types::describe(other)),
            )),
        }
    }

    /// A type by name: a primitive, or a named type defined earlier (or being defined: a
    /// record may refer to itself). A short name is looked up in the enclosing namespace, then
    /// in the null namespace, as Avro's Java parser does.
    fn resolve(&self, name: &str, path: &str, namespace: &str) -> Result<Type, SchemaError> {
        if let Some(primitive) = Type::primitive(name) {
            return Ok(primitive);
        }
        let qualified = if name.contains('.') || namespace.is_empty() {
            None
        } else {
            Some(format!("{namespace}.{name}"))
        };
        qualified
            .as_deref()
            .and_then(|q| self.by_name.get(q))
            .or_else(|| self.by_name.get(name))
            .map(|&i| Type::Named(i))
            .ok_or_else(|| SchemaError::new(path, Kind::UnknownType(name.to_string())))
    }

    fn parse_union(
        &mut self,
        branches: &[Value],
        path: &str,
        namespace: &str,
    ) -> Result<Type, SchemaError> {
        if branches.is_empty() {
            return Err(SchemaError::new(path, Kind::EmptyUnion));
        }
        let mut types = Vec::with_capacity(branches.len());
        let mut seen = HashSet::new();
        for (i, branch) in branches.iter().enumerate() {
            let branch_path = index(path, i);
            if branch.is_array() {
                return Err(SchemaError::new(branch_path, Kind::NestedUnion));
            }
            let ty = self.parse_type(branch, &branch_path, namespace)?;
            let name = type_name(&self.types, &ty).to_string();
            if !seen.insert(name.clone()) {
                return Err(SchemaError::new(
                    branch_path,
                    Kind::DuplicateUnionBranch(name),
                ));
            }
            types.push(ty);
        }
        Ok(Type::Union(types))
    }

    fn parse_object(
        &mut self,
        obj: &Object,
        path: &str,
        namespace: &str,
    ) -> Result<Type, SchemaError> {
        let type_name = match obj.get("type") {
            None => return Err(SchemaError::new(path, Kind::MissingAttribute("type"))),
            Some(Value::String(name)) => name.as_str(),
            Some(_) => {
                return Err(SchemaError::new(
                    join(path, "type"),
                    Kind::InvalidAttribute {
                        attribute: "type",
                        expected: "a string",
                    },
                ));
            }
        };
        // Other attributes of a primitive (`logicalType`, `precision`, …) are tolerated and
        // ignored: logical types share their underlying type's encoding.
        if let Some(primitive) = Type::primitive(type_name) {
            return Ok(primitive);
        }
        match type_name {
            "record" => self.parse_record(obj, path, namespace),
            "enum" => self.parse_enum(obj, path, namespace),
            "fixed" => {
                let (name, _) = self.declare(obj, path, namespace)?;
                let size = obj
                    .get("size")
                    .ok_or_else(|| SchemaError::new(path, Kind::MissingAttribute("size")))?
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        SchemaError::new(
                            join(path, "size"),
                            Kind::InvalidAttribute {
                                attribute: "size",
                                expected: "a non-negative integer",
                            },
                        )
                    })?;
                Ok(self.define(name, NamedKind::Fixed(size)))
            }
            "array" => {
                let items = required(obj, "items", path)?;
                let items = self.parse_type(items, &join(path, "items"), namespace)?;
                Ok(Type::Array(Box::new(items)))
            }
            "map" => {
                let values = required(obj, "values", path)?;
                let values = self.parse_type(values, &join(path, "values"), namespace)?;
                Ok(Type::Map(Box::new(values)))
            }
            // `{"type": "com.acme.Config"}`: a reference written as an object.
            other => self.resolve(other, &join(path, "type"), namespace),
        }
    }

    fn parse_record(
        &mut self,
        obj: &Object,
        path: &str,
        namespace: &str,
    ) -> Result<Type, SchemaError> {
        let (name, inner_namespace) = self.declare(obj, path, namespace)?;
        let fields_path = join(path, "fields");
        let Value::Array(fields_json) = required(obj, "fields", path)? else {
            return Err(SchemaError::new(
                fields_path,
                Kind::InvalidAttribute {
                    attribute: "fields",
                    expected: "an array",
                },
            ));
        };
        // Declared before its fields are parsed, so that fields may refer to the record.
        let record = self.types.len();
        let ty = self.define(name, NamedKind::Record(Vec::new()));

        let mut fields: Vec<Field> = Vec::with_capacity(fields_json.len());
        for (i, field_json) in fields_json.iter().enumerate() {
            let field_path = index(&fields_path, i);
            let Value::Object(field) = field_json else {
                return Err(SchemaError::new(
                    field_path,
                    Kind::InvalidAttribute {
                        attribute: "fields",
                        expected: "an array of objects",
                    },
                ));
            };
            let field_name = match required(field, "name", &field_path)? {
                Value::String(n) if is_simple_name(n) => n.clone(),
                Value::String(n) => {
                    return Err(SchemaError::new(
                        join(&field_path, "name"),
                        Kind::InvalidName(n.clone()),
                    ));
                }
                _ => return Err(not_a_string(&field_path, "name")),
            };
            if fields.iter().any(|f| f.name == field_name) {
                return Err(SchemaError::new(
                    join(&field_path, "name"),
                    Kind::DuplicateField(field_name),
                ));
            }
            let field_type = required(field, "type", &field_path)?;
            let ty = self.parse_type(field_type, &join(&field_path, "type"), &inner_namespace)?;
            if let Some(order) = field.get("order")
                && !matches!(order.as_str(), Some("ascending" | "descending" | "ignore"))
            {
                return Err(SchemaError::new(
                    join(&field_path, "order"),
                    Kind::InvalidAttribute {
                        attribute: "order",
                        expected: "one of \"ascending\", \"descending\", \"ignore\"",
                    },
                ));
            }
            check_aliases(field, &field_path)?;
            let default = field.get("default").cloned();
            if let Some(default) = &default {
                let default_path = join(&field_path, "default");
                self.defaults
                    .push((ty.clone(), default.clone(), default_path));
            }
            fields.push(Field {
                name: field_name,
                ty,
                default,
            });
        }
        self.types[record].kind = NamedKind::Record(fields);
        Ok(ty)
    }

    fn parse_enum(
        &mut self,
        obj: &Object,
        path: &str,
        namespace: &str,
    ) -> Result<Type, SchemaError> {
        let (name, _) = self.declare(obj, path, namespace)?;
        let symbols_path = join(path, "symbols");
        let Value::Array(symbols_json) = required(obj, "symbols", path)? else {
            return Err(SchemaError::new(
                symbols_path,
                Kind::InvalidAttribute {
                    attribute: "symbols",
                    expected: "an array of strings",
                },
            ));
        };
        let mut symbols: Vec<String> = Vec::with_capacity(symbols_json.len());
        for (i, symbol) in symbols_json.iter().enumerate() {
            let symbol_path = index(&symbols_path, i);
            let Value::String(symbol) = symbol else {
                return Err(SchemaError::new(
                    symbol_path,
                    Kind::InvalidAttribute {
                        attribute: "symbols",
                        expected: "an array of strings",
                    },
                ));
            };
            if !is_simple_name(symbol) {
                return Err(SchemaError::new(
                    symbol_path,
                    Kind::InvalidSymbol(symbol.clone()),
                ));
            }
            if symbols.contains(symbol) {
                return Err(SchemaError::new(
                    symbol_path,
                    Kind::DuplicateSymbol(symbol.clone()),
                ));
            }
            symbols.push(symbol.clone());
        }
        // The enum default (Avro 1.9+) only matters for schema resolution; it must still name
        // a symbol.
        if let Some(default) = obj.get("default") {
            let known = default
                .as_str()
                .is_some_and(|d| symbols.iter().any(|s| s == d));
            if !known {
                return Err(SchemaError::new(
                    join(path, "default"),
                    Kind::BadDefault(format!("{default} is not one of the enum's symbols")),
                ));
            }
        }
        Ok(self.define(name, NamedKind::Enum(symbols)))
    }

    /// Reads and checks a named type's `name`, `namespace` and `aliases`. Returns its full name
    /// and the namespace its nested definitions inherit.
    fn declare(
        &self,
        obj: &Object,
        path: &str,
        namespace: &str,
    ) -> Result<(String, String), SchemaError> {
        let name = match required(obj, "name", path)? {
            Value::String(name) => name,
            _ => return Err(not_a_string(path, "name")),
        };
        if !is_full_name(name) {
            return Err(SchemaError::new(
                join(path, "name"),
                Kind::InvalidName(name.clone()),
            ));
        }
        let namespace = match obj.get("namespace") {
            None => namespace,
            Some(Value::Null) => "",
            Some(Value::String(ns)) if ns.is_empty() || is_full_name(ns) => ns.as_str(),
            Some(Value::String(ns)) => {
                return Err(SchemaError::new(
                    join(path, "namespace"),
                    Kind::InvalidName(ns.clone()),
                ));
            }
            Some(_) => return Err(not_a_string(path, "namespace")),
        };
        let full = if name.contains('.') || namespace.is_empty() {
            name.clone()
        } else {
            format!("{namespace}.{name}")
        };
        let (inner, short) = full.rsplit_once('.').unwrap_or(("", &full));
        if Type::primitive(short).is_some() {
            return Err(SchemaError::new(
                join(path, "name"),
                Kind::ReservedName(short.to_string()),
            ));
        }
        let inner = inner.to_string();
        if self.by_name.contains_key(&full) {
            return Err(SchemaError::new(
                join(path, "name"),
                Kind::DuplicateType(full),
            ));
        }
        check_aliases(obj, path)?;
        Ok((full, inner))
    }

    fn define(&mut self, name: String, kind: NamedKind) -> Type {
        let i = self.types.len();
        self.by_name.insert(name.clone(), i);
        self.types.push(Named { name, kind });
        Type::Named(i)
    }
}

fn required<'o>(
    obj: &'o Object,
    attribute: &'static str,
    path: &str,
) -> Result<&'o Value, SchemaError> {
    obj.get(attribute)
        .ok_or_else(|| SchemaError::new(path, Kind::MissingAttribute(attribute)))
}

fn not_a_string(path: &str, attribute: &'static str) -> SchemaError {
    SchemaError::new(
        join(path, attribute),
        Kind::InvalidAttribute {
            attribute,
            expected: "a string",
        },
    )
}

/// Aliases only matter for schema resolution, which Kaa does not do; they must still be names.
fn check_aliases(obj: &Object, path: &str) -> Result<(), SchemaError> {
    let Some(aliases) = obj.get("aliases") else {
        return Ok(());
    };
    let valid = aliases.as_array().is_some_and(|a| {
        a.iter()
            .all(|alias| alias.as_str().is_some_and(is_full_name))
    });
    if valid {
        Ok(())
    } else {
        Err(SchemaError::new(
            join(path, "aliases"),
            Kind::InvalidAttribute {
                attribute: "aliases",
                expected: "an array of names",
            },
        ))
    }
}
