import Foundation

extension NGSIEntity {
    /// `rendered` with each LanguageProperty of `entity` as a Property in the language `lang` asks
    /// for (NGSI-LD 4.15: `ja`, `en,ja;q=0.5`, `*`): its text, with `lang` saying which. A tag
    /// is matched whole, then by its primary language; else the text without a language (`@none`),
    /// else the first by tag.
    public static func inLanguage(_ rendered: JSONValue, of entity: NGSIEntity, _ lang: String, keyValues: Bool, concise: Bool) -> JSONValue {
        guard case .object(var members) = rendered else { return rendered }
        let wanted = lang.split(separator: ",").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        for (name, attribute) in entity.attributes {
            guard case .languageProperty(let map, let observedAt) = attribute, members[name] != nil else { continue }
            let tags = map.keys.sorted()
            var chosen: String?
            for want in wanted where chosen == nil {
                if want == "*" { chosen = tags.first { $0 != "@none" } ?? tags.first; break }
                chosen =
                    tags.first { $0.lowercased() == want }
                    ?? tags.first {
                        $0.lowercased().split(separator: "-").first.map(String.init) == want.split(separator: "-").first.map(String.init)
                    }
            }
            let tag = chosen ?? (map["@none"] != nil ? "@none" : tags[0])
            let text = JSONValue.string(map[tag] ?? "")
            if keyValues {
                members[name] = text
            } else {
                var property: [String: JSONValue] = ["value": text, "lang": .string(tag)]
                if !concise { property["type"] = "Property" }
                if let observedAt { property["observedAt"] = .string(observedAt.iso8601) }
                members[name] = .object(property)
            }
        }
        return .object(members)
    }
}
