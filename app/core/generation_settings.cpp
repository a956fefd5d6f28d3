#include "generation_settings.hpp"

#include <QCoreApplication>
#include <QVariantMap>

#include "app_settings.hpp"

namespace ravel::app {

GenerationSettings::GenerationSettings(AppSettings* settings, QObject* parent)
    : QObject(parent),
      settings_(settings),
      value_(settings->defaultSampling()),
      system_prompt_(settings->systemPrompt()) {}

SamplingSettings GenerationSettings::defaultValue() const {
    return settings_->defaultSampling();
}

QString GenerationSettings::defaultSystemPrompt() const {
    return settings_->systemPrompt();
}

void GenerationSettings::load(const SamplingSettings& value, const QString& systemPrompt) {
    value_ = value.clamped();
    system_prompt_ = systemPrompt;
    emit valueChanged();
}

void GenerationSettings::update(const SamplingSettings& next) {
    const SamplingSettings clamped = next.clamped();
    if (clamped == value_) return;
    value_ = clamped;
    emit valueChanged();
    emit edited();
}

#define RAVEL_SETTER(Name, field, Type)     \
    void GenerationSettings::Name(Type v) { \
        SamplingSettings next = value_;     \
        next.field = v;                     \
        update(next);                       \
    }
RAVEL_SETTER(setTemperature, temperature, double)
RAVEL_SETTER(setTopP, topP, double)
RAVEL_SETTER(setTopK, topK, int)
RAVEL_SETTER(setMinP, minP, double)
RAVEL_SETTER(setPresencePenalty, presencePenalty, double)
RAVEL_SETTER(setFrequencyPenalty, frequencyPenalty, double)
RAVEL_SETTER(setPenaltyDecay, penaltyDecay, double)
RAVEL_SETTER(setMaxTokens, maxTokens, int)
RAVEL_SETTER(setSeed, seed, qint64)
RAVEL_SETTER(setStopSequences, stopSequences, const QString&)
#undef RAVEL_SETTER

void GenerationSettings::setSystemPrompt(const QString& v) {
    if (v == system_prompt_) return;
    system_prompt_ = v;
    emit valueChanged();
    emit edited();
}

QStringList GenerationSettings::presetNames() const {
    QStringList names = builtin_preset_names();
    names.append(userPresetNames());
    return names;
}

QStringList GenerationSettings::userPresetNames() const {
    return settings_->userPresets().keys();
}

QVariantList GenerationSettings::parameters() const {
    QVariantList out;
    for (const auto& p : sampling_parameters()) {
        out.append(QVariantMap{{QStringLiteral("key"), QString::fromLatin1(p.key)},
                               {QStringLiteral("minimum"), p.minimum},
                               {QStringLiteral("maximum"), p.maximum},
                               {QStringLiteral("step"), p.step},
                               {QStringLiteral("description"),
                                QCoreApplication::translate("Sampling", p.description)}});
    }
    return out;
}

void GenerationSettings::applyPreset(const QString& name) {
    const auto user = settings_->userPresets();
    SamplingSettings next = user.contains(name) ? user.value(name) : builtin_preset(name);
    // A preset changes how text is sampled, not where a reply stops.
    next.stopSequences = value_.stopSequences;
    update(next);
}

void GenerationSettings::saveAsPreset(const QString& name) {
    const QString trimmed = name.trimmed();
    if (trimmed.isEmpty() || builtin_preset_names().contains(trimmed)) return;
    settings_->setUserPreset(trimmed, value_);
    emit presetsChanged();
}

void GenerationSettings::removePreset(const QString& name) {
    settings_->removeUserPreset(name);
    emit presetsChanged();
}

void GenerationSettings::makeDefault() {
    settings_->setDefaultSampling(value_);
    settings_->setSystemPrompt(system_prompt_);
}

}  // namespace ravel::app
