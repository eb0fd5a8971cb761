// The journal's bookkeeping (heartbeat_journal.h).
#include "servreg/storage/heartbeat_journal.h"

#include <algorithm>
#include <cmath>

namespace servreg::storage {

bool heartbeat_journal::accepts(std::string_view url) const {
    return pending_.size() + appended_.size() < settings_.max_pending || pending_.contains(url);
}

void heartbeat_journal::begin() {
    appended_.clear();
    folding_.clear();
    ends_sweep_ = false;
    folds_first_ = false;
    folds_all_ = false;
}

void heartbeat_journal::appended(std::string_view url, std::int64_t at_ms) {
    appended_.push_back({std::string(url), at_ms});
}

const std::vector<heartbeat_journal::heartbeat>& heartbeat_journal::fold_step(
    clock::time_point now) {
    folding_.clear();
    // Each transaction folds the share of the pending URLs that the time since the last one is
    // of a sweep period: at least one, so that a sweep ends however rare the transactions.
    const auto elapsed =
        last_step_ ? std::max(now - *last_step_, clock::duration::zero()) : clock::duration::zero();
    last_step_ = now;
    const auto period = std::chrono::duration_cast<clock::duration>(settings_.sweep_period);
    const auto share = static_cast<double>(pending_.size()) * static_cast<double>(elapsed.count()) /
                       static_cast<double>(std::max(period.count(), clock::rep{1}));
    const std::size_t wanted = std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(share)),
                                                       std::size_t{1}, settings_.max_fold);
    auto it = at_start_ ? pending_.begin() : pending_.upper_bound(cursor_);
    for (; it != pending_.end() && folding_.size() < wanted; ++it) {
        folding_.push_back({it->first, it->second});
    }
    ends_sweep_ = it == pending_.end();
    return folding_;
}

const std::vector<heartbeat_journal::heartbeat>& heartbeat_journal::fold_first(
    std::size_t at_most) {
    folding_.clear();
    for (auto it = pending_.begin(); it != pending_.end() && folding_.size() < at_most; ++it) {
        folding_.push_back({it->first, it->second});
    }
    folds_first_ = true;
    folds_all_ = folding_.size() == pending_.size();
    return folding_;
}

void heartbeat_journal::committed() {
    if (folds_all_) {
        reset();
        return;
    }
    for (const heartbeat& h : folding_) pending_.erase(h.url);
    if (!folding_.empty() && !folds_first_) {
        cursor_ = folding_.back().url;
        at_start_ = false;
    }
    for (heartbeat& h : appended_) {
        auto [it, inserted] = pending_.try_emplace(std::move(h.url), h.at_ms);
        if (!inserted) it->second = std::max(it->second, h.at_ms);
    }
    if (!appended_.empty()) holds_[active_] = true;
    if (ends_sweep_) {
        active_ = 1 - active_;
        holds_[active_] = false;  // emptied by this transaction, or empty already
        at_start_ = true;
        cursor_.clear();
    }
    appended_.clear();
    folding_.clear();
    ends_sweep_ = false;
    folds_first_ = false;
}

void heartbeat_journal::reset() {
    pending_.clear();
    cursor_.clear();
    at_start_ = true;
    active_ = 0;
    holds_[0] = holds_[1] = false;
    appended_.clear();
    folding_.clear();
    ends_sweep_ = false;
    folds_first_ = false;
    folds_all_ = false;
    last_step_.reset();
}

}  // namespace servreg::storage
