// A reader for one shape of JSON only: whatever it cannot read exactly it refuses, and the
// document path takes the body from the start.
#include "servreg/jsonrpc/flat_request.h"

namespace servreg::jsonrpc::detail {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

class reader {
public:
    explicit reader(std::string_view text) : text_(text) {}

    std::size_t position() const { return pos_; }
    std::string_view since(std::size_t from) const { return text_.substr(from, pos_ - from); }

    // JSON's white space (RFC 8259, section 2).
    void skip_space() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            ++pos_;
        }
    }

    bool next_is(char c) {
        skip_space();
        return pos_ < text_.size() && text_[pos_] == c;
    }

    bool take(char c) {
        if (!next_is(c)) return false;
        ++pos_;
        return true;
    }

    bool take(std::string_view word) {
        skip_space();
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    bool at_end() {
        skip_space();
        return pos_ == text_.size();
    }

    // A string of printable ASCII without escapes: its characters are its value.
    bool string(std::string_view& out) {
        if (!take('"')) return false;
        const std::size_t start = pos_;
        for (; pos_ < text_.size(); ++pos_) {
            const auto c = static_cast<unsigned char>(text_[pos_]);
            if (c == '"') {
                out = text_.substr(start, pos_ - start);
                ++pos_;
                return true;
            }
            if (c < 0x20 || c > 0x7e || c == '\\') return false;
        }
        return false;
    }

    // An integer as JSON writes it (no leading zero, no "-0"; no fraction or exponent) that
    // nlohmann/json holds exactly, as an integer: up to 19 digits when it is not negative
    // (every such one fits 64 bits unsigned: watch_service's indexes have 19), 18 when it is
    // (19 may be below int64's least, which nlohmann reads as a double).
    bool integer(std::string_view& out) {
        skip_space();
        const std::size_t start = pos_;
        const bool negative = pos_ < text_.size() && text_[pos_] == '-';
        if (negative) ++pos_;
        const std::size_t digits = pos_;
        if (pos_ < text_.size() && text_[pos_] == '0') {
            ++pos_;
        } else {
            while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
        }
        if (pos_ == digits || pos_ - digits > (negative ? 18u : 19u)) return false;
        if (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (is_digit(c) || c == '.' || c == 'e' || c == 'E') return false;
        }
        out = since(start);
        return out != "-0";
    }

    bool value(flat_value& out) {
        out.is_string = next_is('"');
        return out.is_string ? string(out.text) : integer(out.text);
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

bool read_params(reader& in, flat_request& req) {
    req.has_params = true;
    req.positional = in.take('[');
    if (!req.positional && !in.take('{')) return false;
    const char close = req.positional ? ']' : '}';
    if (in.take(close)) return true;
    do {
        if (req.param_count == flat_request::max_params) return false;
        const std::size_t i = req.param_count++;
        if (!req.positional) {
            std::string_view name;
            if (!in.string(name) || !in.take(':')) return false;
            for (std::size_t k = 0; k < i; ++k) {
                if (req.param_names[k] == name) return false;  // the document keeps the last
            }
            req.param_names[i] = name;
        }
        if (!in.value(req.params[i])) return false;
    } while (in.take(','));
    return in.take(close);
}

}  // namespace

std::optional<flat_request> read_flat_request(std::string_view body) noexcept {
    reader in(body);
    flat_request req;
    bool has_jsonrpc = false;
    bool has_method = false;
    if (!in.take('{') || in.next_is('}')) return std::nullopt;
    do {
        std::string_view key;
        if (!in.string(key) || !in.take(':')) return std::nullopt;
        bool ok = false;
        if (key == "jsonrpc" && !has_jsonrpc) {
            ok = has_jsonrpc = in.string(req.jsonrpc);
        } else if (key == "method" && !has_method) {
            ok = has_method = in.string(req.method);
        } else if (key == "id" && req.id.empty()) {
            in.skip_space();
            const std::size_t start = in.position();
            std::string_view ignored;
            ok = in.next_is('"') ? in.string(ignored) : in.take("null") || in.integer(ignored);
            req.id = in.since(start);
        } else if (key == "params" && !req.has_params) {
            ok = read_params(in, req);
        }
        if (!ok) return std::nullopt;
    } while (in.take(','));
    if (!in.take('}') || !in.at_end() || !has_jsonrpc || !has_method) return std::nullopt;
    return req;
}

}  // namespace servreg::jsonrpc::detail
