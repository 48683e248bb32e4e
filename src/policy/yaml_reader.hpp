// Strict reading of YAML documents against a fixed schema, shared by the policy file and
// the policy test file parsers. Internal to sigil_policy: yaml-cpp types do not leave the
// library.
//
// A Reader collects every problem as a Diagnostic with its line instead of stopping at the
// first, and bounds the work a document can cause: the text is limited to kMaxPolicyBytes,
// yaml-cpp refuses nesting deeper than its recursion guard, and every node walked is
// counted, so that aliases repeating a large node cannot multiply the work.
//
//   Reader reader;
//   auto root = reader.load(text);
//   auto fields = root ? reader.fields(*root, 1, "policy", kTopFields) : std::nullopt;
//   if (const Field* f = fields ? fields->find("version") : nullptr) ...
//   if (!reader.ok()) return std::unexpected(reader.take_diagnostics());
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace sigil::policy::yaml {

// More items than this in one list, or entries in one attribute map, is an error. The same
// bounds hold for a client's scopes, audiences and attributes.
inline constexpr std::size_t kMaxListItems = 256;
inline constexpr std::size_t kMaxMapEntries = 64;

// One known key of a mapping and its value.
struct Field {
  std::string_view name;   // the key, as spelled in the table of known fields
  std::string_view owner;  // what the mapping is, for messages: "grant", "service"...
  YAML::Node value;
  int line = 0;  // of the key
};

// The known keys present in one mapping, in document order, each once.
struct Fields {
  std::vector<Field> list;
  int line = 0;  // of the mapping
  std::string_view owner;

  const Field* find(std::string_view name) const;
};

// A single value from a list, with its line.
struct Item {
  std::string value;
  int line = 0;
};

// One entry of a mapping of names to single values (attributes).
struct Entry {
  std::string key;
  std::string value;
  int line = 0;
};

class Reader {
 public:
  void error(int line, std::string message);
  bool ok() const { return diagnostics_.empty(); }
  // The problems found, in line order (stable for one line).
  std::vector<Diagnostic> take_diagnostics();

  // The one document in `text`. nullopt, with a diagnostic, when the text is too large, is
  // not UTF-8, holds a control character, does not parse, is empty or holds more than one
  // document.
  std::optional<YAML::Node> load(std::string_view text);

  // Counts one node walked; false once the budget is spent (reported once). Callers stop
  // walking when it returns false.
  bool spend();

  // The known fields of `node`, which must be a mapping (else a diagnostic and nullopt).
  // Reports keys that are not plain values, duplicate keys (the first one counts) and
  // unknown keys, with the closest known key when it is at most two edits away.
  std::optional<Fields> fields(const YAML::Node& node, int line, std::string_view owner,
                               std::span<const std::string_view> known);
  // The field, or nullptr after reporting it missing.
  const Field* required(const Fields& fields, std::string_view name);

  // A single value (string or number, as written). A list, a mapping or no value at all is
  // reported.
  std::optional<std::string> scalar(const Field& field);
  // A list of single values, at most kMaxListItems. With allow_single a lone value is a
  // list of one.
  std::optional<std::vector<Item>> scalar_list(const Field& field, bool allow_single = false);
  // A mapping of names to single values, at most kMaxMapEntries, no duplicate keys.
  std::optional<std::vector<Entry>> scalar_map(const Field& field);
  // true or false as the YAML 1.2 core schema spells them (true, True, TRUE, false, False,
  // FALSE); anything else is reported.
  std::optional<bool> boolean(const Field& field);

 private:
  std::vector<Diagnostic> diagnostics_;
  std::size_t budget_ = 0;
  bool budget_reported_ = false;
};

// "grant field \"scopes\"": how messages name a field.
std::string field_label(const Field& field);

// The boolean that a scalar written without quotes spells in the YAML 1.2 core schema
// ("true", "False"...), or nullopt for anything else, a quoted "true" included.
std::optional<bool> plain_boolean(const YAML::Node& node);

// The 1-based line of a node, or `fallback` when yaml-cpp does not know it.
int line_of(const YAML::Node& node, int fallback);

// "a list", "a mapping", "a single value", "nothing": for "must be X, not Y" messages.
std::string_view describe(const YAML::Node& node);

// A value for a message: in double quotes, control and non-ASCII bytes escaped (\xNN), cut
// after 80 bytes, so that a hostile file cannot write to a terminal through a diagnostic.
std::string quote(std::string_view value);

// The candidate at the smallest edit distance (Levenshtein) from `word`, if that distance
// is 1 or 2; for "did you mean" hints.
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates);

// Free text shown in tables and logs (descriptions, attribute values): no control
// characters, at most `max_bytes`.
bool is_free_text(std::string_view text, std::size_t max_bytes);

// Attribute names and labels: [A-Za-z0-9][A-Za-z0-9._/-]{0,63}.
bool is_valid_attribute_name(std::string_view name);

}  // namespace sigil::policy::yaml
