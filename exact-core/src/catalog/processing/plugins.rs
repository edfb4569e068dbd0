//! Plugins: who sees and registers them, and their model endpoints.

use super::*;

impl Processing<'_> {
    // ---- plugins ----

    pub(super) fn products_of(&self, plugin: &Plugin) -> Result<Vec<Product>> {
        plugin
            .products
            .iter()
            .map(|p| self.0.load::<Product>(p.0))
            .collect()
    }

    pub(super) fn plugin_visible(&self, actor: &Actor, plugin: &Plugin) -> Result<bool> {
        if actor.superuser || plugin.products.is_empty() {
            return Ok(true);
        }
        Ok(self
            .products_of(plugin)?
            .iter()
            .any(|p| actor.member_of(p.team)))
    }

    /// Checks that the actor may register a plugin for `products`: superusers for any (and
    /// for none), team admins for products of their teams. Call before storing its icon.
    pub fn check_plugin_rights(&self, actor: &Actor, products: &[ProductId]) -> Result<()> {
        if actor.superuser {
            return Ok(());
        }
        if products.is_empty() {
            return Err(no_rights(
                "register a plugin for every product (superusers only)",
            ));
        }
        for p in products {
            let product: Product = self
                .0
                .find(p.0)?
                .ok_or_else(|| Error::invalid("products", format!("no {p}")))?;
            if !actor.admin_of(product.team) {
                return Err(no_rights(format!(
                    "register plugins for {p} (its team's admins only)"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn model_of(
        &self,
        o: &Obj,
        old: Option<&ModelEndpoint>,
        allow: &ModelAllowlist,
    ) -> Result<Option<ModelEndpoint>> {
        let keys = [
            "model_url",
            "model_version",
            "model_level",
            "model_tile_size",
            "model_classes",
            "model_timeout",
            "model_max_objects",
            "model_input",
        ];
        if !keys.iter().any(|k| o.has(k)) {
            return Ok(old.cloned());
        }
        let url = match o.str("model_url")? {
            Some(u) if u.trim().is_empty() => return Ok(None),
            Some(u) => u,
            None => match old {
                Some(m) => m.url.clone(),
                None => return Err(Error::invalid("model_url", "This field is required.")),
            },
        };
        allow.check(&url)?;
        let pick_u32 = |key: &str, default: u32, lo: u32, hi: u32| -> Result<u32> {
            let v = o.u32(key)?.unwrap_or(default);
            if !(lo..=hi).contains(&v) {
                return Err(Error::invalid(key, format!("must be {lo} to {hi}")));
            }
            Ok(v)
        };
        let version = o
            .str("model_version")?
            .or_else(|| old.map(|m| m.version.clone()))
            .unwrap_or_default();
        check_text("model_version", &version, 64)?;
        let classes = match json_field(o, "model_classes")? {
            None | Some(Value::Null) => old.map(|m| m.classes.clone()).unwrap_or_default(),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let id = v.as_u64().ok_or_else(|| {
                        Error::invalid("model_classes", format!("{k:?}: expected a type id"))
                    })?;
                    out.insert(k, AnnotationTypeId(id));
                }
                out
            }
            Some(_) => {
                return Err(Error::invalid(
                    "model_classes",
                    "expected an object of class name → annotation type id",
                ));
            }
        };
        for t in classes.values() {
            if self.0.find::<crate::model::AnnotationType>(t.0)?.is_none() {
                return Err(Error::invalid("model_classes", format!("no {t}")));
            }
        }
        Ok(Some(ModelEndpoint {
            url,
            version,
            level: pick_u32("model_level", old.map_or(0, |m| m.level), 0, 32)?,
            tile_size: pick_u32(
                "model_tile_size",
                old.map_or(512, |m| m.tile_size),
                16,
                4096,
            )?,
            classes,
            timeout_secs: pick_u32("model_timeout", old.map_or(30, |m| m.timeout_secs), 1, 600)?,
            max_objects: pick_u32(
                "model_max_objects",
                old.map_or(10_000, |m| m.max_objects),
                1,
                100_000,
            )?,
            input: match o.str("model_input")? {
                Some(t) => ModelInput::parse(&t)?,
                None => old.map_or(ModelInput::Png, |m| m.input),
            },
        }))
    }

    /// Registers a plugin from EXACT's fields (`name`, `author`, `package`, `contact`,
    /// `abouturl`, `products`) and, for a model plugin, `model_url`, `model_version`,
    /// `model_level`, `model_tile_size`, `model_classes` ({class: type id}),
    /// `model_timeout` (s), `model_max_objects`, `model_input` (`png`, `jpeg` or `url`). `icon` is the blob key of a stored icon.
    pub fn create_plugin(
        &self,
        actor: &Actor,
        o: &Obj,
        icon: &str,
        allow: &ModelAllowlist,
    ) -> Result<Plugin> {
        let products: Vec<ProductId> = o
            .ids("products")?
            .unwrap_or_default()
            .into_iter()
            .map(ProductId)
            .collect();
        self.check_plugin_rights(actor, &products)?;
        let name = o.req_str("name")?;
        check_name("name", &name, 1, 100)?;
        let text = |k: &str| -> Result<String> {
            let v = o.str(k)?.unwrap_or_default();
            check_text(k, &v, 1000)?;
            Ok(v)
        };
        let plugin = Plugin {
            id: PluginId(0),
            name,
            author: text("author")?,
            package: text("package")?,
            contact: text("contact")?,
            abouturl: text("abouturl")?,
            icon: icon.to_owned(),
            products,
            creator: Some(actor.user),
            model: self.model_of(o, None, allow)?,
        };
        self.0.insert(plugin)
    }

    /// Every plugin the actor sees, by id.
    pub fn plugins(&self, actor: &Actor) -> Result<Vec<Plugin>> {
        let mut out = Vec::new();
        for p in self.0.all::<Plugin>()? {
            if self.plugin_visible(actor, &p)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// A plugin the actor sees.
    pub fn plugin(&self, actor: &Actor, id: PluginId) -> Result<Plugin> {
        let p: Plugin = self.0.load(id.0)?;
        if !self.plugin_visible(actor, &p)? {
            return Err(Error::not_found(id));
        }
        Ok(p)
    }

    /// Changes a plugin's fields (those given); `icon` replaces the icon's blob key.
    pub fn update_plugin(
        &self,
        actor: &Actor,
        id: PluginId,
        o: &Obj,
        icon: Option<&str>,
        allow: &ModelAllowlist,
    ) -> Result<Plugin> {
        let old = self.plugin(actor, id)?;
        self.check_plugin_rights(actor, &old.products)?;
        let mut new = old.clone();
        if let Some(products) = o.ids("products")? {
            new.products = products.into_iter().map(ProductId).collect();
            self.check_plugin_rights(actor, &new.products)?;
        }
        if let Some(name) = o.str("name")? {
            check_name("name", &name, 1, 100)?;
            new.name = name;
        }
        for (k, f) in [
            ("author", &mut new.author),
            ("package", &mut new.package),
            ("contact", &mut new.contact),
            ("abouturl", &mut new.abouturl),
        ] {
            if let Some(v) = o.str(k)? {
                check_text(k, &v, 1000)?;
                *f = v;
            }
        }
        if let Some(icon) = icon {
            new.icon = icon.to_owned();
        }
        new.model = self.model_of(o, old.model.as_ref(), allow)?;
        self.0.modify(id.0, |cur: &Plugin| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }
}
