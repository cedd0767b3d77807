package testinfra;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

/**
 * Starts one OpenSearch 2.19.x node in this JVM, HTTP on 127.0.0.1, for integration tests only.
 *
 * System properties (all optional):
 *   os.home          node home (config/, data/, logs/, modules/, plugins/ are created under it); default ./.engines/opensearch-home
 *   os.http.port     HTTP port; default 9200 (0 = ephemeral, the real port is then written to logs/http.ports)
 *   os.transport.port transport port or range; default 9300-9400
 *   os.cluster.name  default "it-cluster"
 *   os.wipe          "true" (default) deletes data/ before start
 *   os.plugins       comma list of plugin class names; default = transport + common analysis + reindex + painless + mapper-extras
 */
public final class OpenSearchMain {

    /** Node's constructor that accepts classpath plugins is protected; this subclass only exposes it. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
            super(environment, classpathPlugins, true);
        }
    }

    // Each entry: the 2.x class name first, then the 3.x (*ModulePlugin) name. First one found wins.
    private static final String[][] REQUIRED = {
        { "org.opensearch.transport.Netty4Plugin", "org.opensearch.transport.Netty4ModulePlugin" },
    };
    private static final String[][] OPTIONAL = {
        { "org.opensearch.analysis.common.CommonAnalysisPlugin", "org.opensearch.analysis.common.CommonAnalysisModulePlugin" },
        { "org.opensearch.index.reindex.ReindexPlugin", "org.opensearch.index.reindex.ReindexModulePlugin" },
        { "org.opensearch.painless.PainlessPlugin", "org.opensearch.painless.PainlessModulePlugin" },
        { "org.opensearch.index.mapper.MapperExtrasPlugin", "org.opensearch.index.mapper.MapperExtrasModulePlugin" },
    };

    public static void main(String[] args) throws Exception {
        final Path home = Paths.get(System.getProperty("os.home", ".engines/opensearch-home")).toAbsolutePath();
        final String httpPort = System.getProperty("os.http.port", "9200");
        final String transportPort = System.getProperty("os.transport.port", "9300-9400");
        final String clusterName = System.getProperty("os.cluster.name", "it-cluster");
        final String nodeName = "it-node-1";

        final Path config = home.resolve("config");
        final Path data = home.resolve("data");
        final Path logs = home.resolve("logs");
        if (Boolean.parseBoolean(System.getProperty("os.wipe", "true"))) {
            deleteRecursively(data);
        }
        for (Path dir : List.of(config, data, logs, home.resolve("modules"), home.resolve("plugins"))) {
            Files.createDirectories(dir);
        }

        final Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("cluster.name", clusterName)
            .put("node.name", nodeName)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("node.portsfile", true)                                   // writes logs/http.ports
            .put("cluster.routing.allocation.disk.threshold_enabled", false) // CI disks can be nearly full
            .put("node.store.allow_mmap", false)                           // no dependence on vm.max_map_count
            .put("indices.breaker.total.use_real_memory", false)           // fewer spurious 429s on a small heap
            .build();

        final Environment environment =
            InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), config, () -> nodeName);

        final List<Class<? extends Plugin>> plugins = new ArrayList<>();
        final String explicit = System.getProperty("os.plugins", "").trim();
        if (!explicit.isEmpty()) {
            for (String name : explicit.split(",")) {
                plugins.add(Class.forName(name.trim()).asSubclass(Plugin.class));
            }
        } else {
            for (String[] names : REQUIRED) {
                Class<? extends Plugin> c = firstLoadable(names);
                if (c == null) {
                    throw new IllegalStateException("none of " + String.join(", ", names) + " is on the classpath");
                }
                plugins.add(c);
            }
            for (String[] names : OPTIONAL) {
                Class<? extends Plugin> c = firstLoadable(names);
                if (c != null) {
                    plugins.add(c);
                } else {
                    System.err.println("[opensearch-main] optional plugin not on classpath: " + names[0]);
                }
            }
        }

        final Node node = new EmbeddedNode(environment, plugins);
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (IOException | RuntimeException e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "opensearch-shutdown"));

        node.start();
        System.out.println("[opensearch-main] STARTED home=" + home + " plugins=" + plugins);
        System.out.flush();
        // OpenSearch's own threads are daemon threads: without this the JVM would exit when main returns.
        stopped.await();
    }

    private static Class<? extends Plugin> firstLoadable(String[] names) {
        for (String name : names) {
            try {
                return Class.forName(name).asSubclass(Plugin.class);
            } catch (ClassNotFoundException e) {
                // try the next spelling
            }
        }
        return null;
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
