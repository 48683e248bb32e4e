#include "policy/yaml_reader.hpp"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <map>

namespace sigil::policy::yaml {

namespace {

// Nodes walked beyond one per byte of text. Without aliases a node takes at least a byte
// or two of text, so only aliases repeating large nodes come near this; sharing a small
// block (`when: *office_hours`) across 100,000 grants does not.
constexpr std::size_t kExtraWork = 4'000'000;

constexpr std::size_t kMaxQuotedBytes = 80;

// The 1-based line of the byte at `pos`.
int line_at(std::string_view text, std::size_t pos) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

// The offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (s.size() - i <= n) return i;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

// Calls f on each line of text (without its line break) until it returns true; returns
// that line's 1-based number, or 0.
template <typename F>
int find_line(std::string_view text, F f) {
  int number = 0;
  while (!text.empty()) {
    ++number;
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (f(line)) return number;
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return 0;
}

// YAML 1.2 §9.1.2: "---" or "..." at the start of a line, then a space or the line's end.
// Such a line is a document marker wherever it appears (c-forbidden): inside no scalar.
bool is_marker(std::string_view line, std::string_view marker) {
  return line.starts_with(marker) && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
}

// Something other than blanks and a comment.
bool has_content(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  return first != std::string_view::npos && line[first] != '#';
}

// The line where a second document begins (after "---" or "..." ends the first), or 0.
int second_document_line(std::string_view text) {
  bool started = false;  // a "---" was seen
  bool content = false;  // the first document has content
  bool ended = false;    // a "..." closed it
  return find_line(text, [&](std::string_view line) {
    if (is_marker(line, "---")) {
      if (started || content || ended) return true;
      started = true;
      content = has_content(line.substr(3));
      return false;
    }
    if (is_marker(line, "...")) {
      ended = ended || started || content;
      return false;
    }
    if (!has_content(line)) return false;
    if (ended) return true;
    // Directives ("%YAML 1.2") come before the first "---".
    if (!started && !content && line.starts_with('%')) return false;
    content = true;
    return false;
  });
}

int first_content_line(std::string_view text) {
  return find_line(text, [](std::string_view line) {
    return has_content(line) && !is_marker(line, "---") && !is_marker(line, "...") &&
           !line.starts_with('%');
  });
}

}  // namespace

const Field* Fields::find(std::string_view name) const {
  for (const auto& f : list) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void Reader::error(int line, std::string message) {
  diagnostics_.push_back({.line = line, .message = std::move(message)});
}

std::vector<Diagnostic> Reader::take_diagnostics() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
  return std::move(diagnostics_);
}

std::optional<YAML::Node> Reader::load(std::string_view text) {
  if (text.size() > kMaxPolicyBytes) {
    error(0, "the file is larger than " + std::to_string(kMaxPolicyBytes / (1024 * 1024)) + " MiB");
    return std::nullopt;
  }
  budget_ = text.size() + kExtraWork;
  // YAML 1.2 §5.1: the character stream is printable Unicode (tab, line feed and carriage
  // return are the only C0 controls). yaml-cpp does not check this itself, and an embedded
  // NUL would cut a value short.
  const auto control = std::find_if(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return (u < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || u == 0x7F;
  });
  if (control != text.end()) {
    const auto pos = static_cast<std::size_t>(control - text.begin());
    error(line_at(text, pos), "control character " + quote(std::string_view(&*control, 1)) +
                                  " in the file: YAML allows only printable characters");
    return std::nullopt;
  }
  if (const auto bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    error(line_at(text, bad), "the file is not valid UTF-8");
    return std::nullopt;
  }
  // YAML::Load, not LoadAll: yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray
  // character before the first value (",\n...", upstream pull request 1319). Load reads the
  // first document only; the others are found by their markers.
  if (const int line = second_document_line(text); line > 0) {
    error(line, "the file holds more than one YAML document");
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::DeepRecursion& e) {
    error(e.mark.line >= 0 ? e.mark.line + 1 : 0, "nesting is too deep");
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    error(e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg);
    return std::nullopt;
  }
  if (root.IsNull()) {
    // Also what yaml-cpp makes of a document it cannot start, such as ",\nversion: 1".
    if (const int line = first_content_line(text); line > 0) {
      error(line, "the file holds no value (a stray character before the first one?)");
    } else {
      error(0, "the file is empty");
    }
    return std::nullopt;
  }
  return root;
}

bool Reader::spend() {
  if (budget_ > 0) {
    --budget_;
    return true;
  }
  if (!budget_reported_) {
    budget_reported_ = true;
    error(0, "the file expands to too many values (aliases repeating large blocks?)");
  }
  return false;
}

std::optional<Fields> Reader::fields(const YAML::Node& node, int line, std::string_view owner,
                                     std::span<const std::string_view> known) {
  if (!node.IsMap()) {
    error(line, std::string(owner) + " must be a mapping, not " + std::string(describe(node)));
    return std::nullopt;
  }
  Fields out;
  out.line = line;
  out.owner = owner;
  std::map<std::string, int, std::less<>> seen;
  for (const auto& entry : node) {
    if (!spend()) break;
    const int key_line = line_of(entry.first, line);
    if (!entry.first.IsScalar()) {
      error(key_line, "a key in " + std::string(owner) + " must be a plain name, not " +
                          std::string(describe(entry.first)));
      continue;
    }
    const std::string& key = entry.first.Scalar();
    // yaml-cpp keeps every copy of a repeated key; YAML 1.2 §3.2.1.1 requires them unique.
    if (auto [it, inserted] = seen.emplace(key, key_line); !inserted) {
      error(key_line, "duplicate field " + quote(key) + " in " + std::string(owner) +
                          " (first at line " + std::to_string(it->second) + ")");
      continue;
    }
    const auto match = std::find(known.begin(), known.end(), key);
    if (match == known.end()) {
      std::string message = "unknown field " + quote(key) + " in " + std::string(owner);
      if (auto hint = closest(key, known)) message += " (did you mean " + std::string(*hint) + "?)";
      error(key_line, std::move(message));
      continue;
    }
    out.list.push_back({.name = *match, .owner = owner, .value = entry.second, .line = key_line});
  }
  return out;
}

const Field* Reader::required(const Fields& fields, std::string_view name) {
  const Field* f = fields.find(name);
  if (f == nullptr) {
    error(fields.line, std::string(fields.owner) + " is missing the required field \"" +
                           std::string(name) + "\"");
  }
  return f;
}

std::optional<std::string> Reader::scalar(const Field& field) {
  if (field.value.IsScalar()) return field.value.Scalar();
  if (field.value.IsNull()) {
    error(field.line, field_label(field) + " has no value");
  } else {
    error(field.line, field_label(field) + " must be a single value, not " +
                          std::string(describe(field.value)));
  }
  return std::nullopt;
}

std::optional<std::vector<Item>> Reader::scalar_list(const Field& field, bool allow_single) {
  if (allow_single && field.value.IsScalar()) {
    return std::vector<Item>{{.value = field.value.Scalar(), .line = field.line}};
  }
  if (!field.value.IsSequence()) {
    error(field.line, field_label(field) + " must be a list, not " +
                          std::string(describe(field.value)) +
                          (field.value.IsScalar() ? " (write [value])" : ""));
    return std::nullopt;
  }
  if (field.value.size() > kMaxListItems) {
    error(field.line,
          field_label(field) + " has more than " + std::to_string(kMaxListItems) + " items");
    return std::nullopt;
  }
  std::vector<Item> out;
  bool ok = true;
  for (const auto& item : field.value) {
    if (!spend()) return std::nullopt;
    const int item_line = line_of(item, field.line);
    if (!item.IsScalar()) {
      error(item_line, "each item of " + field_label(field) + " must be a single value, not " +
                           std::string(describe(item)));
      ok = false;
      continue;
    }
    out.push_back({.value = item.Scalar(), .line = item_line});
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<Entry>> Reader::scalar_map(const Field& field) {
  if (!field.value.IsMap()) {
    error(field.line,
          field_label(field) + " must be a mapping, not " + std::string(describe(field.value)));
    return std::nullopt;
  }
  if (field.value.size() > kMaxMapEntries) {
    error(field.line,
          field_label(field) + " has more than " + std::to_string(kMaxMapEntries) + " entries");
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::map<std::string, int, std::less<>> seen;
  bool ok = true;
  for (const auto& entry : field.value) {
    if (!spend()) return std::nullopt;
    const int key_line = line_of(entry.first, field.line);
    if (!entry.first.IsScalar()) {
      error(key_line, "a key in " + field_label(field) + " must be a plain name, not " +
                          std::string(describe(entry.first)));
      ok = false;
      continue;
    }
    const std::string& key = entry.first.Scalar();
    if (auto [it, inserted] = seen.emplace(key, key_line); !inserted) {
      error(key_line, "duplicate key " + quote(key) + " in " + field_label(field) +
                          " (first at line " + std::to_string(it->second) + ")");
      ok = false;
      continue;
    }
    if (!entry.second.IsScalar()) {
      error(key_line, quote(key) + " in " + field_label(field) + " must be a single value, not " +
                          std::string(describe(entry.second)));
      ok = false;
      continue;
    }
    out.push_back({.key = key, .value = entry.second.Scalar(), .line = key_line});
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<bool> Reader::boolean(const Field& field) {
  auto text = scalar(field);
  if (!text) return std::nullopt;
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  error(field.line, field_label(field) + ": " + quote(*text) + " is not true or false");
  return std::nullopt;
}

std::optional<bool> plain_boolean(const YAML::Node& node) {
  // yaml-cpp tags a plain scalar "?" (not yet resolved) and a quoted or block one "!".
  if (!node.IsScalar() || node.Tag() != "?") return std::nullopt;
  const std::string& text = node.Scalar();
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

std::string field_label(const Field& field) {
  return std::string(field.owner) + " field \"" + std::string(field.name) + "\"";
}

int line_of(const YAML::Node& node, int fallback) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

std::string_view describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "nothing";
}

std::string quote(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i == kMaxQuotedBytes) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(value[i]);
    if (u < 0x20 || u >= 0x7F || u == '"' || u == '\\') {
      if (u == '"' || u == '\\') {
        out += '\\';
        out += static_cast<char>(u);
      } else {
        out += "\\x";
        out += kHex[u >> 4];
        out += kHex[u & 0xF];
      }
    } else {
      out += static_cast<char>(u);
    }
  }
  out += '"';
  return out;
}

std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  constexpr std::size_t kMaxDistance = 2;
  // Known field names are short; a long word cannot be within two edits of one, and
  // skipping it keeps a hostile key from costing a large table.
  constexpr std::size_t kMaxWord = 64;
  if (word.size() > kMaxWord) return std::nullopt;
  std::optional<std::string_view> best;
  std::size_t best_distance = kMaxDistance + 1;
  std::vector<std::size_t> previous;
  std::vector<std::size_t> current;
  for (std::string_view candidate : candidates) {
    const std::size_t gap = candidate.size() > word.size() ? candidate.size() - word.size()
                                                           : word.size() - candidate.size();
    if (gap > kMaxDistance) continue;
    previous.resize(candidate.size() + 1);
    current.resize(candidate.size() + 1);
    for (std::size_t j = 0; j <= candidate.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      current[0] = i;
      for (std::size_t j = 1; j <= candidate.size(); ++j) {
        const std::size_t substitute = previous[j - 1] + (word[i - 1] == candidate[j - 1] ? 0 : 1);
        current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
      }
      std::swap(previous, current);
    }
    const std::size_t distance = previous[candidate.size()];
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

bool is_free_text(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

bool is_valid_attribute_name(std::string_view name) {
  constexpr std::size_t kMaxNameBytes = 64;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || name.size() > kMaxNameBytes || !alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

}  // namespace sigil::policy::yaml
