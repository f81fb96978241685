//! The two request forms and their answers: the legacy form (`{"method", "arguments",
//! "tag"}` → `{"result", "arguments", "tag"}`) and JSON-RPC 2.0, which Transmission 4.1
//! speaks (`{"jsonrpc": "2.0", "method", "params", "id"}` → `{"jsonrpc", "result" | "error",
//! "id"}`, with snake_case names).

use serde_json::{Map, Value, json};

use super::error::MethodError;
use super::names;

/// Which form a request came in, and what its answer must echo.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Form {
    /// The legacy form, with its optional `tag`.
    Legacy {
        /// Echoed back when present.
        tag: Option<Value>,
    },
    /// JSON-RPC 2.0; `None`: a notification, which gets no answer.
    JsonRpc {
        /// Echoed back.
        id: Option<Value>,
    },
}

impl Form {
    /// Whether answers use the legacy spellings.
    pub(crate) fn legacy(&self) -> bool {
        matches!(self, Self::Legacy { .. })
    }
}

/// One call: its form, its method (snake_case) and its parameters (keys in snake_case).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    /// How to answer.
    pub(crate) form: Form,
    /// The method, in snake_case (`torrent_get`).
    pub(crate) method: String,
    /// The parameters, keys in snake_case.
    pub(crate) params: Map<String, Value>,
}

/// A request that cannot even be read as a call: the answer is already known.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejected(pub(crate) Value);

/// Reads one request object (`Err`: the error answer to send instead).
pub(crate) fn read_call(request: Value) -> Result<Call, Rejected> {
    let Value::Object(mut obj) = request else {
        return Err(Rejected(json_rpc_error(
            None,
            &MethodError::invalid_request("a request is a JSON object"),
        )));
    };
    if let Some(version) = obj.remove("jsonrpc") {
        let id = obj.remove("id");
        if version != "2.0" {
            return Err(Rejected(json_rpc_error(
                id,
                &MethodError::invalid_request("`jsonrpc` must be \"2.0\""),
            )));
        }
        if matches!(
            id,
            Some(Value::Object(_) | Value::Array(_) | Value::Bool(_))
        ) {
            return Err(Rejected(json_rpc_error(
                None,
                &MethodError::invalid_request("`id` must be a number, a string or null"),
            )));
        }
        let Some(Value::String(method)) = obj.remove("method") else {
            return Err(Rejected(json_rpc_error(
                id,
                &MethodError::invalid_request("`method` must be a string"),
            )));
        };
        let params = match obj.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params,
            Some(_) => {
                return Err(Rejected(json_rpc_error(
                    id,
                    &MethodError::invalid_params("`params` must be an object"),
                )));
            }
        };
        return Ok(Call {
            form: Form::JsonRpc { id },
            method: names::snake(&method),
            params: names::snake_keys(params),
        });
    }
    let tag = obj.remove("tag");
    let Some(Value::String(method)) = obj.remove("method") else {
        return Err(Rejected(legacy_answer(
            tag,
            Err(MethodError::invalid_request("`method` must be a string")),
        )));
    };
    let params = match obj.remove("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => {
            return Err(Rejected(legacy_answer(
                tag,
                Err(MethodError::invalid_params("`arguments` must be an object")),
            )));
        }
    };
    Ok(Call {
        form: Form::Legacy { tag },
        method: names::snake(&method),
        params: names::snake_keys(params),
    })
}

/// The answer to `call` given its outcome (`None`: a notification, no answer). `result`
/// keys are snake_case; legacy answers get the legacy spellings in `style`.
pub(crate) fn answer(
    form: Form,
    outcome: Result<Map<String, Value>, MethodError>,
    style: names::Style,
) -> Option<Value> {
    match form {
        Form::Legacy { tag } => {
            let outcome = outcome.map(|args| names::legacy_keys(Value::Object(args), style));
            Some(legacy_answer(tag, outcome))
        }
        Form::JsonRpc { id: None } => None,
        Form::JsonRpc { id: Some(id) } => Some(match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
            Err(error) => json_rpc_error(Some(id), &error),
        }),
    }
}

/// The bytes the answer to a call in `form` puts before and after its outcome's object (the
/// legacy `arguments`, JSON-RPC's `result`) when that object is written in parts; `None` for
/// a notification (no answer). The same bytes [`answer`] writes around a success.
pub(crate) fn around(form: &Form) -> Option<(Vec<u8>, Vec<u8>)> {
    // Writing into a Vec cannot fail, nor can serializing a `Value`.
    let put = |out: &mut Vec<u8>, v: &Value| {
        let _ = serde_json::to_writer(out, v);
    };
    match form {
        Form::Legacy { tag } => {
            let mut tail = br#","result":"success""#.to_vec();
            if let Some(tag) = tag {
                tail.extend_from_slice(br#","tag":"#);
                put(&mut tail, tag);
            }
            tail.push(b'}');
            Some((br#"{"arguments":"#.to_vec(), tail))
        }
        Form::JsonRpc { id: None } => None,
        Form::JsonRpc { id: Some(id) } => {
            let mut head = br#"{"id":"#.to_vec();
            put(&mut head, id);
            head.extend_from_slice(br#","jsonrpc":"2.0","result":"#);
            Some((head, b"}".to_vec()))
        }
    }
}

/// The JSON-RPC answer to a body that is not JSON.
pub(crate) fn parse_error(why: &str) -> Value {
    json_rpc_error(None, &MethodError::parse(why))
}

fn legacy_answer(tag: Option<Value>, outcome: Result<Value, MethodError>) -> Value {
    let mut out = Map::new();
    match outcome {
        Ok(args) => {
            out.insert("result".into(), "success".into());
            out.insert("arguments".into(), args);
        }
        Err(error) => {
            out.insert("result".into(), error.legacy_text().into());
            out.insert("arguments".into(), Value::Object(Map::new()));
        }
    }
    if let Some(tag) = tag {
        out.insert("tag".into(), tag);
    }
    Value::Object(out)
}

fn json_rpc_error(id: Option<Value>, error: &MethodError) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), error.code.into());
    body.insert("message".into(), error.message().into());
    if let Some(detail) = &error.detail {
        body.insert("data".into(), json!({ "error_string": detail }));
    }
    json!({"jsonrpc": "2.0", "error": body, "id": id.unwrap_or(Value::Null)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_requests_keep_their_tag() {
        let call =
            read_call(json!({"method": "torrent-get", "arguments": {"hashString": 1}, "tag": 7}))
                .unwrap();
        assert_eq!(call.method, "torrent_get");
        assert!(call.params.contains_key("hash_string"));
        let out = answer(call.form, Ok(Map::new()), names::Style::Camel).unwrap();
        assert_eq!(out, json!({"result": "success", "arguments": {}, "tag": 7}));
    }

    #[test]
    fn json_rpc_requests_get_json_rpc_answers() {
        let call =
            read_call(json!({"jsonrpc": "2.0", "method": "session_get", "id": "a"})).unwrap();
        let out = answer(
            call.form,
            Err(MethodError::invalid_params("x")),
            names::Style::Kebab,
        )
        .unwrap();
        assert_eq!(out["error"]["code"], -32602);
        assert_eq!(out["error"]["data"]["error_string"], "x");
        assert_eq!(out["id"], "a");
    }

    #[test]
    fn answers_in_parts_wrap_their_object_as_whole_answers_do() {
        let object = json!({"torrents": [{"id": 1}], "removed": []});
        for form in [
            Form::Legacy { tag: None },
            Form::Legacy {
                tag: Some(json!("x\"}")),
            },
            Form::JsonRpc { id: Some(json!(7)) },
            Form::JsonRpc {
                id: Some(json!("\"result\":{")),
            },
        ] {
            let Value::Object(map) = object.clone() else {
                unreachable!()
            };
            let whole = answer(form.clone(), Ok(map), names::Style::Camel).unwrap();
            let (head, tail) = around(&form).unwrap();
            let parts = [head, serde_json::to_vec(&object).unwrap(), tail].concat();
            assert_eq!(
                String::from_utf8(parts).unwrap(),
                serde_json::to_string(&whole).unwrap()
            );
        }
        assert_eq!(around(&Form::JsonRpc { id: None }), None);
    }

    #[test]
    fn notifications_get_no_answer() {
        let call = read_call(json!({"jsonrpc": "2.0", "method": "session_get"})).unwrap();
        assert_eq!(answer(call.form, Ok(Map::new()), names::Style::Kebab), None);
    }

    #[test]
    fn malformed_requests_are_rejected_with_a_reason() {
        for bad in [
            json!([1]),
            json!(3),
            json!({"jsonrpc": "1.0", "method": "x", "id": 1}),
            json!({"jsonrpc": "2.0", "method": 5, "id": 1}),
            json!({"jsonrpc": "2.0", "method": "x", "params": [1], "id": 1}),
            json!({"jsonrpc": "2.0", "method": "x", "id": {}}),
        ] {
            let Err(Rejected(out)) = read_call(bad.clone()) else {
                panic!("{bad} accepted")
            };
            assert!(out["error"]["code"].as_i64().unwrap() < 0, "{out}");
        }
        let Err(Rejected(out)) = read_call(json!({"arguments": {}, "tag": 2})) else {
            panic!("accepted")
        };
        assert_eq!(out["tag"], 2);
        assert_ne!(out["result"], "success");
    }
}
