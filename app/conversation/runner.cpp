#include "conversation/runner.hpp"

#include <chrono>
#include <map>
#include <set>

#include "conversation/settings_json.hpp"
#include "ravel/resume_record.hpp"

namespace ravel::conversation {

using storage::Message;
using storage::Role;

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

constexpr int kChunk = 64;

Result<void> feed(Session& session, std::span<const std::int32_t> tokens) {
    if (tokens.empty()) return {};
    FeedOptions options;
    options.chunk_size = kChunk;
    auto r = session.feed(tokens, options);
    if (!r) return r.error();
    return {};
}

}  // namespace

ConversationRunner::ConversationRunner(storage::Store& store, ModelContext context,
                                       SessionOptions session)
    : store_(store), ctx_(std::move(context)), session_(ctx_.model, session) {}

Result<SamplerSettings> ConversationRunner::default_settings(std::int64_t conversation_id) {
    auto conv = store_.conversation(conversation_id);
    if (!conv) return conv.error();
    auto j = parse_object(conv->settings_json, "conversation settings");
    if (!j) return j.error();
    auto it = j->find("sampler");
    if (it == j->end()) return SamplerSettings::chat_defaults();
    return sampler_from_json(*it, SamplerSettings::chat_defaults());
}

Result<storage::Conversation> ConversationRunner::create(const std::string& title,
                                                         const SamplerSettings& defaults,
                                                         const std::string& system_prompt) {
    if (auto v = defaults.validate(); !v) return v.error();
    const nlohmann::json settings = {{"sampler", sampler_to_json(defaults)},
                                     {"template", std::string(ctx_.chat_template.name())}};
    auto conv = store_.create_conversation(title, settings.dump());
    if (!conv) return conv.error();
    if (auto r = start_fresh(*conv); !r) return r.error();
    live_ = true;
    live_conversation_ = conv->id;
    live_message_.reset();
    const std::string block = ctx_.chat_template.system_block(system_prompt);
    if (block.empty()) return conv;

    storage::NewMessage m;
    m.conversation_id = conv->id;
    m.role = Role::System;
    m.text = system_prompt;
    m.tokens = ctx_.tokenizer->encode(block);
    auto added = store_.add_message(m);
    if (!added) return added.error();
    live_ = false;
    if (auto r = feed(session_, m.tokens); !r) return r.error();
    live_ = true;
    live_message_ = added->id;
    (void)snapshot_live(added->id);  // a cache: failing to write it loses nothing
    return conv;
}

Result<void> ConversationRunner::start_fresh(const storage::Conversation& conversation) {
    session_.reset();
    auto settings = default_settings(conversation.id);
    if (!settings) return settings.error();
    auto sampler = Sampler::create(*settings);
    if (!sampler) return sampler.error();
    sampler_ = std::move(*sampler);
    sampler_.set_penalty_exempt(ctx_.penalty_exempt);
    if (!conversation.has_start_state) return {};
    auto blob = store_.start_state(conversation.id);
    if (!blob) return blob.error();
    if (!*blob) return {};
    // The starting state is user data, not a cache: a bad one is an error, not a replay.
    auto record = decode_resume_record(**blob);
    if (!record) return make_error("the conversation's starting state: " + record.message());
    if (!record->state.fits(ctx_.model->config())) {
        return make_error("the conversation's starting state does not fit this model's shape");
    }
    return session_.set_state(record->state);
}

bool ConversationRunner::ends_turn(const Message& m) const {
    switch (m.role) {
        case Role::System:
            return true;
        case Role::User:
            return false;
        case Role::Assistant:
            break;
    }
    if (!ids_usable(m)) return true;  // imported: replayed with the separator appended
    if (auto stored = parse_reply_settings(m.settings_json, sampler_.settings()); stored) {
        if (stored->separator_follows) return true;
        if (stored->ended_at_blank_line) return *stored->ended_at_blank_line;
    }
    std::string bytes;
    for (std::size_t i = m.tokens.size() >= 8 ? m.tokens.size() - 8 : 0; i < m.tokens.size(); ++i) {
        bytes += ctx_.tokenizer->token_bytes(m.tokens[i]);
    }
    return bytes.ends_with("\n\n");
}

bool ConversationRunner::ids_usable(const Message& m) const {
    if (m.role != Role::Assistant) return !m.tokens.empty();
    auto stored = parse_reply_settings(m.settings_json, sampler_.settings());
    // A row that cannot be read keeps its ids, so replay() reports what is wrong with it.
    if (!stored) return !m.tokens.empty();
    if (!stored->tokenizer.empty() && stored->tokenizer != ctx_.tokenizer->id()) return false;
    // No ids: an import without them, unless the reply was generated and stopped before its
    // first token (its settings say how it was drawn, its text is empty, nothing was fed).
    if (m.tokens.empty()) return stored->sampler.has_value() && m.text.empty();
    return true;
}

Result<std::vector<std::int32_t>> ConversationRunner::feed_tokens(const Message& m,
                                                                  bool after_separator) {
    if (ids_usable(m)) {
        for (std::int32_t t : m.tokens) {
            if (t >= ctx_.model->config().n_vocab) {
                return make_error("message " + std::to_string(m.id) + " holds token " +
                                  std::to_string(t) + ", outside this model's vocabulary");
            }
        }
        std::vector<std::int32_t> ids = m.tokens;
        if (auto stored = parse_reply_settings(m.settings_json, sampler_.settings());
            m.role == Role::Assistant && stored && stored->separator_follows &&
            !stored->ended_at_blank_line.value_or(false)) {
            const auto sep = ctx_.tokenizer->encode(ChatTemplate::kReplyStop);
            ids.insert(ids.end(), sep.begin(), sep.end());
        }
        return ids;
    }
    // Messages without stored ids (imports) are tokenized from their text.
    const auto& tpl = ctx_.chat_template;
    switch (m.role) {
        case Role::System:
            return ctx_.tokenizer->encode(tpl.system_block(m.text));
        case Role::User:
            return ctx_.tokenizer->encode(tpl.next_turn(m.text, after_separator));
        case Role::Assistant: {
            std::string text = clean_message_text(m.text);
            return ctx_.tokenizer->encode(" " + text + std::string(ChatTemplate::kReplyStop));
        }
    }
    return std::vector<std::int32_t>{};
}

Result<void> ConversationRunner::replay(const Message& m, const std::vector<std::int32_t>& tokens) {
    if (m.role != Role::Assistant) return feed(session_, tokens);
    if (!ids_usable(m)) {
        // Imported reply: no sampling history to reproduce; only the penalty table follows it.
        if (auto r = feed(session_, tokens); !r) return r;
        for (std::int32_t t : tokens) sampler_.accept(t);
        return {};
    }
    auto parsed = parse_reply_settings(m.settings_json, sampler_.settings());
    if (!parsed) return make_error("message " + std::to_string(m.id) + ": " + parsed.message());
    const ReplySettings& stored = *parsed;
    if (stored.sampler) {
        if (auto r = sampler_.update_settings(*stored.sampler); !r) return r;
    }
    if (stored.reseed) sampler_.reset();
    if (stored.rng_state) sampler_.set_rng(*stored.rng_state);
    // `tokens` may end with the separator a row with "separator_follows" adds: fed, not drawn.
    const std::span<const std::int32_t> drawn(tokens.data(), m.tokens.size());
    if (auto r = replay_reply(session_, *ctx_.tokenizer, sampler_, drawn, stored.stop_reason); !r) {
        return r;
    }
    return feed(session_, std::span(tokens).subspan(m.tokens.size()));
}

Result<void> ConversationRunner::snapshot_live(std::int64_t message_id) {
    ResumeRecord record;
    record.state = session_.state();
    record.logits.assign(session_.logits().begin(), session_.logits().end());
    record.sampler = sampler_.save();
    record.token_count = session_.tokens_processed();
    record.model = ctx_.fingerprint;
    record.tokenizer_id = ctx_.tokenizer->id();
    const auto blob = encode_resume_record(record);
    return store_.put_snapshot(message_id, blob, ctx_.fingerprint.hex());
}

Result<ResumeInfo> ConversationRunner::resume_to(std::int64_t conversation_id,
                                                 std::optional<std::int64_t> message_id) {
    const auto t0 = std::chrono::steady_clock::now();
    ResumeInfo info;
    if (live_ && live_conversation_ == conversation_id && live_message_ == message_id) {
        info.was_live = true;
        return info;
    }
    live_ = false;
    auto conv = store_.conversation(conversation_id);
    if (!conv) return conv.error();
    std::vector<Message> path;
    if (message_id) {
        auto p = store_.path_to(*message_id);
        if (!p) return p.error();
        if (p->back().conversation_id != conversation_id) {
            return make_error("message " + std::to_string(*message_id) +
                              " is not in conversation " + std::to_string(conversation_id));
        }
        path = std::move(*p);
    }

    // What each message feeds, and the token count after it (what a valid snapshot must hold).
    std::vector<std::vector<std::int32_t>> tokens(path.size());
    std::vector<std::uint64_t> count(path.size());
    bool after_separator = true;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < path.size(); ++i) {
        auto t = feed_tokens(path[i], after_separator);
        if (!t) return t.error();
        tokens[i] = std::move(*t);
        total += tokens[i].size();
        count[i] = total;
        after_separator = ends_turn(path[i]);
    }

    std::map<std::int64_t, storage::SnapshotRef> refs;
    if (auto r = store_.snapshot_refs(conversation_id); r) {
        for (auto& ref : *r) refs[ref.message_id] = ref;
    } else {
        info.skipped.push_back("snapshot list unreadable: " + r.message());
    }
    auto defaults = default_settings(conversation_id);
    if (!defaults) return defaults.error();

    std::ptrdiff_t base = -1;
    const std::string fp_hex = ctx_.fingerprint.hex();
    // Snapshots of this model that disagree with the transcript's count were made another way
    // (the app keeps its system prompt outside the transcript): they are left in place, not
    // overwritten by the rebuilt state, which that other reader would then misuse.
    std::set<std::int64_t> keep;
    for (std::ptrdiff_t i = std::ptrdiff_t(path.size()) - 1; i >= 0 && base < 0; --i) {
        const std::int64_t id = path[i].id;
        auto ref = refs.find(id);
        if (ref == refs.end()) continue;
        const std::string who = "snapshot of message " + std::to_string(id) + ": ";
        if (ref->second.model_fingerprint != fp_hex) {
            info.skipped.push_back(who + "made by another model");
            continue;
        }
        auto snap = store_.snapshot(id);
        if (!snap || !*snap) {
            info.skipped.push_back(who + (snap ? "vanished" : snap.message()));
            continue;
        }
        auto record = decode_resume_record((*snap)->blob);
        if (!record) {
            info.skipped.push_back(who + record.message());
            continue;
        }
        if (auto fits = check_record_fits(*record, ctx_.model->config(), ctx_.fingerprint); !fits) {
            info.skipped.push_back(who + fits.message());
            continue;
        }
        if (record->tokenizer_id != ctx_.tokenizer->id()) {
            info.skipped.push_back(who + "made with another tokenizer");
            continue;
        }
        if (record->token_count != count[i]) {
            info.skipped.push_back(who + "holds " + std::to_string(record->token_count) +
                                   " tokens, the transcript " + std::to_string(count[i]));
            keep.insert(id);
            continue;
        }
        auto sampler = Sampler::restore(*defaults, record->sampler, ctx_.penalty_exempt);
        if (!sampler) {
            info.skipped.push_back(who + sampler.message());
            continue;
        }
        if (auto r = session_.restore(record->state, record->logits, record->token_count); !r) {
            info.skipped.push_back(who + r.message());
            continue;
        }
        sampler_ = std::move(*sampler);
        base = i;
        info.from_snapshot = true;
        info.snapshot_message = id;
    }
    if (base < 0) {
        if (auto r = start_fresh(*conv); !r) return r.error();
    }
    for (std::size_t i = static_cast<std::size_t>(base + 1); i < path.size(); ++i) {
        if (auto r = replay(path[i], tokens[i]); !r) {
            return make_error("cannot rebuild the conversation at message " +
                              std::to_string(path[i].id) + ": " + r.message());
        }
        info.replayed_tokens += static_cast<std::int64_t>(tokens[i].size());
        // Rebuilt snapshots go back into the cache, with the policy's placement.
        if (path[i].role != Role::User && !keep.contains(path[i].id)) {
            (void)snapshot_live(path[i].id);
        }
    }
    live_ = true;
    live_conversation_ = conversation_id;
    live_message_ = message_id;
    info.resume_ms = ms_since(t0);
    return info;
}

Result<TurnResult> ConversationRunner::reply_under(
    std::int64_t conversation_id, std::optional<std::int64_t> parent, const std::string& user_text,
    const SamplerSettings& settings, const ReplyOptions& options, const PieceCallback& on_piece,
    ResumeInfo resume) {
    if (auto v = settings.validate(); !v) return v.error();
    bool after_separator = true;
    if (parent) {
        auto p = store_.message(*parent);
        if (!p) return p.error();
        after_separator = ends_turn(*p);
    }
    TurnResult turn;
    turn.resume = std::move(resume);
    storage::NewMessage u;
    u.conversation_id = conversation_id;
    u.parent_id = parent;
    u.role = Role::User;
    u.text = user_text;
    u.tokens = ctx_.tokenizer->encode(ctx_.chat_template.next_turn(user_text, after_separator));
    // The user's words are committed before generation starts: a crash loses only the reply.
    auto user = store_.add_message(u);
    if (!user) return user.error();
    turn.user = *user;
    turn.prompt_tokens = static_cast<std::int64_t>(u.tokens.size());
    live_ = false;
    if (auto r = feed(session_, u.tokens); !r) return r.error();
    if (auto r = sampler_.update_settings(settings); !r) return r.error();
    live_ = true;
    live_message_ = user->id;

    live_ = false;
    const Xoshiro256 start = sampler_.rng();
    auto reply = generate_reply(session_, *ctx_.tokenizer, sampler_, options, on_piece);
    if (!reply) return reply.error();
    storage::NewMessage a;
    a.conversation_id = conversation_id;
    a.parent_id = user->id;
    a.role = Role::Assistant;
    a.text = reply->text;
    a.tokens = reply->tokens;
    a.settings_json =
        reply_settings_json(settings, *reply, ReplyOrigin{start, ctx_.tokenizer->id(), false});
    auto added = store_.add_message(a);
    if (!added) return added.error();
    live_ = true;
    live_message_ = added->id;
    (void)snapshot_live(added->id);  // a cache: failing to write it loses nothing
    turn.reply = *added;
    turn.generation = std::move(*reply);
    return turn;
}

Result<TurnResult> ConversationRunner::send(
    std::int64_t conversation_id, std::optional<std::int64_t> parent, const std::string& user_text,
    const SamplerSettings& settings, const ReplyOptions& options, const PieceCallback& on_piece) {
    auto resume = resume_to(conversation_id, parent);
    if (!resume) return resume.error();
    return reply_under(conversation_id, parent, user_text, settings, options, on_piece,
                       std::move(*resume));
}

Result<TurnResult> ConversationRunner::edit(std::int64_t user_message, const std::string& new_text,
                                            const SamplerSettings& settings,
                                            const ReplyOptions& options,
                                            const PieceCallback& on_piece) {
    auto user = store_.message(user_message);
    if (!user) return user.error();
    if (user->role != Role::User) return make_error("only a user message can be edited");
    return send(user->conversation_id, user->parent_id, new_text, settings, options, on_piece);
}

Result<TurnResult> ConversationRunner::regenerate(std::int64_t assistant_message,
                                                  const SamplerSettings& settings,
                                                  const ReplyOptions& options,
                                                  const PieceCallback& on_piece) {
    auto old = store_.message(assistant_message);
    if (!old) return old.error();
    if (old->role != Role::Assistant || !old->parent_id) {
        return make_error("only a reply can be regenerated");
    }
    auto user = store_.message(*old->parent_id);
    if (!user) return user.error();
    auto siblings = store_.children(old->conversation_id, user->id);
    if (!siblings) return siblings.error();
    auto resume = resume_to(old->conversation_id, user->id);
    if (!resume) return resume.error();

    // The parent's state would give the same draw again: the new branch re-seeds, with a seed
    // derived from the settings and the branch number so it is reproducible.
    SamplerSettings s = settings;
    s.seed = settings.seed + static_cast<std::uint64_t>(siblings->size());
    if (auto r = sampler_.update_settings(s); !r) return r.error();
    sampler_.reset();
    live_ = false;
    const Xoshiro256 start = sampler_.rng();
    auto reply = generate_reply(session_, *ctx_.tokenizer, sampler_, options, on_piece);
    if (!reply) return reply.error();
    auto j = nlohmann::json::parse(
        reply_settings_json(s, *reply, ReplyOrigin{start, ctx_.tokenizer->id(), false}));
    j["reseed"] = true;
    storage::NewMessage a;
    a.conversation_id = old->conversation_id;
    a.parent_id = user->id;
    a.role = Role::Assistant;
    a.text = reply->text;
    a.tokens = reply->tokens;
    a.settings_json = j.dump();
    auto added = store_.add_message(a);
    if (!added) return added.error();
    live_ = true;
    live_message_ = added->id;
    (void)snapshot_live(added->id);
    TurnResult turn;
    turn.user = *user;
    turn.reply = *added;
    turn.generation = std::move(*reply);
    turn.resume = std::move(*resume);
    return turn;
}

}  // namespace ravel::conversation
