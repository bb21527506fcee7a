//! The table definition lives in infra/template.yaml (resource `Table`); local
//! runs and tests create their tables from that same definition.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;

use crate::StoreError;

/// The SAM template, compiled in so a binary needs no checkout to create its table.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// Creates `table_name` as the template's `Table` resource defines it.
/// Returns `Ok(false)` when the table already exists.
pub async fn create_table(client: &Client, table_name: &str) -> Result<bool, StoreError> {
    let props = table_properties(TEMPLATE)?;
    let mut req = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attribute_definitions(&props)?))
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    if let Some(gsis) = props["GlobalSecondaryIndexes"].as_sequence() {
        for gsi in gsis {
            req = req.global_secondary_indexes(global_index(gsi)?);
        }
    }
    if props["StreamSpecification"]["StreamViewType"].as_str() == Some("NEW_AND_OLD_IMAGES") {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
    }
    match req.send().await {
        Ok(_) => {
            enable_ttl(client, table_name, &props).await?;
            Ok(true)
        }
        Err(err) => {
            let service = err.into_service_error();
            if service.is_resource_in_use_exception() {
                Ok(false)
            } else {
                Err(StoreError::Backend(service.to_string()))
            }
        }
    }
}

async fn enable_ttl(client: &Client, table_name: &str, props: &Value) -> Result<(), StoreError> {
    let ttl = &props["TimeToLiveSpecification"];
    let (Some(attribute), Some(true)) = (ttl["AttributeName"].as_str(), ttl["Enabled"].as_bool())
    else {
        return Ok(());
    };
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(|e| definition_error(&e.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| StoreError::Backend(e.into_service_error().to_string()))?;
    Ok(())
}

fn definition_error(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "infra/template.yaml: Resources.Table.Properties: {what}"
    ))
}

fn table_properties(template: &str) -> Result<Value, StoreError> {
    let doc: Value =
        serde_yaml::from_str(template).map_err(|e| definition_error(&e.to_string()))?;
    let props = doc["Resources"]["Table"]["Properties"].clone();
    if props.is_mapping() {
        Ok(props)
    } else {
        Err(definition_error("missing"))
    }
}

fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str, StoreError> {
    v[field]
        .as_str()
        .ok_or_else(|| definition_error(&format!("{field} is not a string")))
}

fn attribute_definitions(props: &Value) -> Result<Vec<AttributeDefinition>, StoreError> {
    let defs = props["AttributeDefinitions"]
        .as_sequence()
        .ok_or_else(|| definition_error("AttributeDefinitions missing"))?;
    defs.iter()
        .map(|d| {
            AttributeDefinition::builder()
                .attribute_name(text(d, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(d, "AttributeType")?))
                .build()
                .map_err(|e| definition_error(&e.to_string()))
        })
        .collect()
}

fn key_schema(schema: &Value) -> Result<Vec<KeySchemaElement>, StoreError> {
    let elements = schema
        .as_sequence()
        .ok_or_else(|| definition_error("KeySchema missing"))?;
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?))
                .build()
                .map_err(|e| definition_error(&e.to_string()))
        })
        .collect()
}

fn global_index(gsi: &Value) -> Result<GlobalSecondaryIndex, StoreError> {
    let projection = Projection::builder()
        .projection_type(ProjectionType::from(
            gsi["Projection"]["ProjectionType"]
                .as_str()
                .unwrap_or("ALL"),
        ))
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(text(gsi, "IndexName")?)
        .set_key_schema(Some(key_schema(&gsi["KeySchema"])?))
        .projection(projection)
        .build()
        .map_err(|e| definition_error(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_defines_the_table_keys() {
        let props = table_properties(TEMPLATE).expect("template parses");
        let keys = key_schema(&props["KeySchema"]).expect("key schema");
        let names: Vec<_> = keys
            .iter()
            .map(|k| k.attribute_name().to_string())
            .collect();
        assert_eq!(names, ["pk", "sk"]);
        assert_eq!(
            props["TimeToLiveSpecification"]["AttributeName"].as_str(),
            Some("ttl")
        );
    }
}
