//! Identifiers for generated code: Avro names (`temperatureC`, `org.acme.DeviceProfile`,
//! `LOW_BATTERY`) turned into each language's conventions. Each target escapes its own
//! reserved words.

/// The words of a name: split at `.`, `_`, `-`, and where a lower-case letter or digit meets an
/// upper-case one (`temperatureC` → `temperature`, `c`; `HTTPServer` → `http`, `server`).
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_is_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `snake_case` (`temperatureC` → `temperature_c`).
pub fn snake(name: &str) -> String {
    words(name).join("_")
}

/// `PascalCase` (`device_profile` → `DeviceProfile`).
pub fn pascal(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `SCREAMING_SNAKE_CASE` (`lowBattery` → `LOW_BATTERY`).
pub fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// `name` with a prefix when it starts with a digit or is empty, so it is an identifier in
/// every target language.
pub fn identifier(name: String, prefix: &str) -> String {
    if name.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        format!("{prefix}{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(snake("temperatureC"), "temperature_c");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("org.acme.DeviceProfile"), "org_acme_device_profile");
        assert_eq!(snake("LOW_BATTERY"), "low_battery");
        assert_eq!(snake("sensor2Value"), "sensor2_value");
        assert_eq!(pascal("device_profile"), "DeviceProfile");
        assert_eq!(pascal("LOW_BATTERY"), "LowBattery");
        assert_eq!(screaming("lowBattery"), "LOW_BATTERY");
        assert_eq!(identifier(snake("2fast"), "_"), "_2fast");
    }
}
