import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts

// Open a model, see its progress and details, pick a recent one; the app's appearance.
ScrollView {
    id: scroll
    objectName: "modelPanel"
    clip: true
    contentWidth: availableWidth

    FileDialog {
        id: fileDialog
        title: qsTr("Open an RWKV model")
        nameFilters: [qsTr("RWKV models (*.pth *.safetensors *.gguf)"), qsTr("All files (*)")]
        onAccepted: Models.load(selectedFile)
    }

    ColumnLayout {
        width: scroll.availableWidth
        spacing: 10

        Item { implicitHeight: 4 }

        RowLayout {
            Layout.fillWidth: true
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Button {
                objectName: "openModelButton"
                Layout.fillWidth: true
                text: qsTr("Open model…")
                enabled: !Models.loading && !Chat.busy  // a load would wait behind the reply
                Accessible.name: qsTr("Open a model file")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Open a .pth, .safetensors or .gguf RWKV model")
                onClicked: fileDialog.open()
            }
            Button {
                objectName: "unloadModelButton"
                text: qsTr("Unload")
                visible: Models.loaded && !Models.loading
                enabled: !Chat.busy
                Accessible.name: qsTr("Unload the model")
                onClicked: Models.unload()
            }
        }

        ColumnLayout {
            Layout.fillWidth: true
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            visible: Models.loading
            Label { text: qsTr("Loading model… %1%").arg(Math.round(Models.progress * 100)); color: Theme.text }
            RowLayout {
                ProgressBar {
                    objectName: "loadProgress"
                    Layout.fillWidth: true
                    from: 0; to: 1
                    value: Models.progress
                    Accessible.name: qsTr("Model loading progress")
                }
                Button {
                    objectName: "cancelLoadButton"
                    text: qsTr("Cancel")
                    Accessible.name: qsTr("Cancel loading the model")
                    onClicked: Models.cancelLoad()
                }
            }
        }

        ColumnLayout {
            objectName: "modelInfo"
            Layout.fillWidth: true
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            spacing: 6
            Label {
                Layout.fillWidth: true
                text: Models.loaded ? Models.modelName : qsTr("No model loaded")
                font.bold: true
                color: Theme.text
                elide: Text.ElideMiddle
            }
            Label {
                // A fixed preferred width: a wrapped label that fills a layout can make the
                // layout re-measure it forever (a polish loop).
                Layout.preferredWidth: scroll.availableWidth - 24
                visible: !Models.loaded
                wrapMode: Text.Wrap
                color: Theme.mutedText
                text: qsTr("Open an RWKV model file to start chatting. Ravel reads BlinkDL .pth checkpoints, .safetensors and GGUF files, RWKV versions 4, 5.2, 6 and 7.")
            }
            Button {
                objectName: "loadDemoModelButton"
                visible: !Models.loaded && !Models.loading && Models.demoModelPath.length > 0
                text: qsTr("Use the demo model")
                Accessible.name: qsTr("Load Ravel's small built-in demo model")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("A small RWKV-7 model bundled with Ravel: greetings, arithmetic, units, dates and facts about RWKV and Ravel")
                onClicked: Models.loadDemoModel()
            }
            Label {
                objectName: "demoModelNote"
                Layout.preferredWidth: scroll.availableWidth - 24
                visible: Models.demoModel
                wrapMode: Text.Wrap
                color: Theme.mutedText
                text: qsTr("This is Ravel's small built-in demo model. It only knows greetings, small arithmetic, unit conversions, dates and facts about RWKV and Ravel. Open a real RWKV model with Open model… for real conversations.")
            }
            Label {
                objectName: "deviceNote"
                Layout.preferredWidth: scroll.availableWidth - 24
                visible: Models.loaded && String(Models.info.deviceNote).length > 0
                wrapMode: Text.Wrap
                color: Theme.mutedText
                // The engine's own sentence, e.g. "running on the CPU: no CUDA driver found".
                readonly property string note: String(Models.info.deviceNote)
                text: note.charAt(0).toUpperCase() + note.slice(1)
            }
            GridLayout {
                Layout.fillWidth: true
                visible: Models.loaded
                columns: 2
                columnSpacing: 12
                rowSpacing: 4
                Repeater {
                    model: Models.loaded ? [
                        qsTr("RWKV version"), String(Models.info.version),
                        qsTr("Layers"), String(Models.info.layers),
                        qsTr("Width"), String(Models.info.width),
                        qsTr("Parameters"), String(Models.info.parameters),
                        qsTr("Vocabulary"), String(Models.info.vocab),
                        qsTr("Tokenizer"), String(Models.info.tokenizer),
                        qsTr("File format"), String(Models.info.format),
                        qsTr("Device"), String(Models.info.device),
                        qsTr("Weights"), String(Models.info.weights),
                        qsTr("State size"), String(Models.info.stateSize),
                        qsTr("Load time"), qsTr("%1 ms").arg(Models.info.loadMs)
                    ] : []
                    delegate: Label {
                        required property var modelData
                        required property int index
                        Layout.fillWidth: index % 2 === 1
                        text: modelData
                        color: index % 2 === 0 ? Theme.mutedText : Theme.text
                        elide: Text.ElideRight
                    }
                }
            }
        }

        Label {
            Layout.leftMargin: 12
            text: qsTr("Recent models")
            font.bold: true
            color: Theme.text
            visible: AppSettings.recentModels.length > 0
        }
        Repeater {
            model: AppSettings.recentModels
            delegate: ItemDelegate {
                required property string modelData
                Layout.fillWidth: true
                Layout.leftMargin: 4
                Layout.rightMargin: 4
                text: modelData
                enabled: !Models.loading && !Chat.busy  // a load would wait behind the reply
                Accessible.name: qsTr("Load recent model %1").arg(modelData)
                ToolTip.visible: hovered
                ToolTip.text: modelData
                contentItem: Label { text: parent.text; elide: Text.ElideMiddle; color: Theme.text }
                onClicked: Models.load(modelData)
            }
        }

        Label {
            Layout.leftMargin: 12
            text: qsTr("Performance")
            font.bold: true
            color: Theme.text
        }
        GridLayout {
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Layout.fillWidth: true
            columns: 2
            columnSpacing: 12
            Label { text: qsTr("Device"); color: Theme.mutedText }
            ComboBox {
                objectName: "deviceBox"
                Layout.fillWidth: true
                model: [qsTr("GPU when available"), qsTr("CPU only")]
                readonly property var values: ["auto", "cpu"]
                currentIndex: Math.max(0, values.indexOf(AppSettings.device))
                Accessible.name: qsTr("Where models run")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("With a CUDA GPU, models run on it; otherwise on the CPU, and the reason is shown above")
                onActivated: (i) => AppSettings.device = values[i]
            }
            Label { text: qsTr("Weights"); color: Theme.mutedText }
            ComboBox {
                objectName: "weightsBox"
                Layout.fillWidth: true
                model: [qsTr("As in the file"), qsTr("f16"), qsTr("bf16"), qsTr("q8_0 (8-bit)"),
                        qsTr("q5_1 (5-bit)"), qsTr("q4_0 (4-bit)"), qsTr("f32")]
                readonly property var values: ["stored", "f16", "bf16", "q8_0", "q5_1", "q4_0", "f32"]
                currentIndex: Math.max(0, values.indexOf(AppSettings.weights))
                Accessible.name: qsTr("Type the weights are kept in")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Smaller types need less memory and decode faster, for a little accuracy; converting happens when the model loads")
                onActivated: (i) => AppSettings.weights = values[i]
            }
            Label { text: qsTr("CPU threads"); color: Theme.mutedText }
            SpinBox {
                objectName: "threadsBox"
                Layout.fillWidth: true
                from: 0
                to: 256
                value: AppSettings.threads
                editable: true
                textFromValue: (v) => v === 0 ? qsTr("Auto") : String(v)
                valueFromText: (t) => t === qsTr("Auto") ? 0 : parseInt(t)
                Accessible.name: qsTr("CPU threads (0: one per physical core)")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Threads for matrix products on the CPU; Auto uses one per physical core, which decoding is fastest with")
                onValueModified: AppSettings.threads = value
            }
        }
        Button {
            objectName: "reloadModelButton"
            Layout.leftMargin: 12
            visible: Models.loaded && !Models.loading
            enabled: !Chat.busy
            text: qsTr("Reload with these settings")
            Accessible.name: qsTr("Reload the model with the device, weight and thread settings")
            onClicked: Models.load(Models.info.path)
        }

        Label {
            Layout.leftMargin: 12
            text: qsTr("Appearance")
            font.bold: true
            color: Theme.text
        }
        ComboBox {
            objectName: "themeBox"
            Layout.leftMargin: 12
            Layout.rightMargin: 12
            Layout.fillWidth: true
            model: [qsTr("Follow the system"), qsTr("Light"), qsTr("Dark")]
            readonly property var modes: ["system", "light", "dark"]
            currentIndex: modes.indexOf(Theme.mode)
            Accessible.name: qsTr("Colour theme")
            onActivated: (i) => Theme.mode = modes[i]
        }
        Item { Layout.fillHeight: true }
    }
}
