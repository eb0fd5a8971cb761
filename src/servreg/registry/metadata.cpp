// Instance metadata (metadata.h): its limits, its filter, and its canonical JSON text, which
// the database stores and every process reads back.
#include "servreg/registry/metadata.h"

#include <algorithm>
#include <cstdint>

namespace servreg::registry {
namespace {

bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += ch;
        }
    }
    out += '"';
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// A reader of the one shape decode_metadata accepts.
class reader {
public:
    explicit reader(std::string_view text) : text_(text) {}

    bool take(char c) {
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != c) return false;
        ++pos_;
        return true;
    }
    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }
    bool string(std::string& out) {
        if (!take('"')) return false;
        out.clear();
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return false;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) return false;
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t low = 0;
                        if (!take_raw("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) {
                            return false;
                        }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return false;
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }

private:
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }
    bool take_raw(std::string_view s) {
        if (text_.substr(pos_, s.size()) != s) return false;
        pos_ += s.size();
        return true;
    }
    bool hex4(std::uint32_t& out) {
        if (pos_ + 4 > text_.size()) return false;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            out <<= 4;
            if (c >= '0' && c <= '9') {
                out |= static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                out |= static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                out |= static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> check_meta_key(std::string_view key) {
    if (key.empty() || key.size() > max_meta_key_length || !std::ranges::all_of(key, is_key_char)) {
        return "key \"" + std::string(key.substr(0, 80)) +
               "\" must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'";
    }
    return std::nullopt;
}

std::optional<std::string> normalize_metadata(metadata& entries, std::string_view what) {
    const std::string prefix(what);
    // The last of equal keys wins, as in a JSON object read by most parsers.
    std::ranges::stable_sort(entries, {}, &metadata::value_type::first);
    for (std::size_t i = 0; i + 1 < entries.size();) {
        if (entries[i].first == entries[i + 1].first) {
            entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    if (entries.size() > max_meta_keys) {
        return prefix + " must have at most 32 keys, got " + std::to_string(entries.size());
    }
    std::size_t size = 0;
    for (const auto& [key, value] : entries) {
        if (auto bad = check_meta_key(key)) return prefix + ": " + *bad;
        if (value.size() > max_meta_value_length) {
            return prefix + ": the value of \"" + key + "\" must be at most 512 bytes, got " +
                   std::to_string(value.size());
        }
        size += key.size() + value.size();
    }
    if (size > max_meta_size) {
        return prefix + " must hold at most 4096 bytes of keys and values, got " +
               std::to_string(size);
    }
    return std::nullopt;
}

bool matches(const metadata& have, const metadata& filter) noexcept {
    auto it = have.begin();
    for (const auto& [key, value] : filter) {
        it = std::lower_bound(it, have.end(), key, [](const auto& entry, const std::string& k) {
            return entry.first < k;
        });
        if (it == have.end() || it->first != key || it->second != value) return false;
    }
    return true;
}

std::string encode_metadata(const metadata& entries) {
    std::string out = "{";
    for (const auto& [key, value] : entries) {
        if (out.size() > 1) out += ',';
        append_string(out, key);
        out += ':';
        append_string(out, value);
    }
    out += '}';
    return out;
}

std::optional<metadata> decode_metadata(std::string_view json) {
    reader in(json);
    metadata out;
    if (!in.take('{')) return std::nullopt;
    if (!in.take('}')) {
        do {
            std::pair<std::string, std::string> entry;
            if (!in.string(entry.first) || !in.take(':') || !in.string(entry.second)) {
                return std::nullopt;
            }
            out.push_back(std::move(entry));
        } while (in.take(','));
        if (!in.take('}')) return std::nullopt;
    }
    if (!in.at_end()) return std::nullopt;
    std::ranges::stable_sort(out, {}, &metadata::value_type::first);
    return out;
}

}  // namespace servreg::registry
